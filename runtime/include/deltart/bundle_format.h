/*===- bundle_format.h - the deltac kernel bundle file format ---*- C -*-===*
 *
 * A bundle is one file:
 *
 *   header   : magic "DLTBNDL\0" (8 bytes), u32 version, u32 section count,
 *              u64 total file size
 *   sections : count x { u32 kind, u32 sm, u64 offset, u64 size }
 *   payloads : the sections' bytes, at their offsets
 *   trailer  : u64 FNV-1a checksum of every byte before it
 *
 * All integers little-endian. Section kinds: the manifest (text, one
 * "key value" per line), the spec's source text, PTX for an sm (text), a
 * cubin for an sm (ELF). Shared by the compiler's writer and the runtime's
 * reader.
 *
 * Version 2: the split schedule's kernels take chunk_begin and chunk_end
 * after the workspace (version 1's did not; their bundles are refused).
 *===----------------------------------------------------------------------===*/
#ifndef DELTART_BUNDLE_FORMAT_H
#define DELTART_BUNDLE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define DELTART_BUNDLE_MAGIC "DLTBNDL"
#define DELTART_BUNDLE_VERSION 2u
#define DELTART_BUNDLE_HEADER_SIZE 24u
#define DELTART_BUNDLE_SECTION_SIZE 24u

enum deltart_section_kind {
  DELTART_SECTION_MANIFEST = 1,
  DELTART_SECTION_SPEC = 2,
  DELTART_SECTION_PTX = 3,
  DELTART_SECTION_CUBIN = 4,
};

static inline uint64_t deltart_fnv1a(const void *data, size_t size) {
  const unsigned char *p = (const unsigned char *)data;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

#endif
