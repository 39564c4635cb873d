/*===- deltart.h - the deltac runtime: load kernel bundles, launch them -*- C -*-===*
 *
 * A C API with no LLVM or MLIR inside. The CUDA driver (libcuda.so.1) is
 * loaded at run time, so the library builds, links and reports "no CUDA
 * driver" cleanly on machines without a GPU. No function aborts or exits:
 * each returns a status, and deltart_last_error() gives the message of the
 * calling thread's last failure.
 *
 * A bundle's module is the cubin for the device's architecture, else the
 * newest PTX the driver can compile for it (never PTX built for another
 * arch-specific target such as sm_90a). Five environment variables, read when
 * a bundle first launches, are for testing: DELTART_SCHEDULE=wide|narrow|split
 * forces a kernel variant (split: the two-kernel schedule; split_small and
 * split_large force its scan's value tile too); DELTART_PTX=<sm> (e.g. 80)
 * loads that PTX image instead of the cubin, to run the sm_80 form of a
 * kernel on a newer GPU; DELTART_WORKSPACE=shared gives the split schedule
 * one workspace per bundle, as on drivers without memory pools, and
 * DELTART_WORKSPACE=none makes its every allocation fail, as when the device
 * is out of memory (the forward then runs the wide or narrow kernel, unless
 * DELTART_SCHEDULE forced the split one: then it fails); DELTART_PDL=0
 * launches the split scan only after the first kernel has ended (by default
 * it is launched to start during that kernel's last blocks where the bundle's
 * scans wait for it: split_grid_dependency_sm in the manifest), and runs no
 * forward in segments; DELTART_SEGMENTS=<n> runs the split schedule in n
 * segments (0 or 1: none), whatever the shape. (Segments: for the longest
 * sequences, the chunks in ranges, each range's first kernel beside the
 * scan of the range before; see runtime/README.md.)
 *
 * Forwards of one bundle may run on several streams at once, from several
 * threads: the split schedule's workspace is taken per forward from the
 * bundle's memory pool, in stream order (drivers without memory pools: one
 * workspace per bundle, and its forwards must not overlap).
 *===----------------------------------------------------------------------===*/
#ifndef DELTART_H
#define DELTART_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum deltart_status {
  DELTART_OK = 0,
  DELTART_ERROR_IO = 1,               /* a file could not be read */
  DELTART_ERROR_FORMAT = 2,           /* not a bundle, or a damaged one */
  DELTART_ERROR_CHECKSUM = 3,         /* the bundle's checksum does not match */
  DELTART_ERROR_VERSION = 4,          /* a bundle version this runtime does not read */
  DELTART_ERROR_NO_DRIVER = 5,        /* libcuda.so.1 could not be loaded */
  DELTART_ERROR_NO_DEVICE = 6,        /* no usable CUDA device */
  DELTART_ERROR_NO_IMAGE = 7,         /* no cubin or PTX for this device */
  DELTART_ERROR_UNKNOWN_ENTRY = 8,    /* the bundle has no such entry point */
  DELTART_ERROR_INVALID_ARGUMENT = 9, /* an argument does not match the manifest */
  DELTART_ERROR_CUDA = 10,            /* a CUDA driver call failed */
} deltart_status;

typedef struct deltart_bundle deltart_bundle;

/* Loads a bundle; *out is set only on success. */
deltart_status deltart_bundle_open_file(const char *path, deltart_bundle **out);
deltart_status deltart_bundle_open_memory(const void *data, size_t size, deltart_bundle **out);
void deltart_bundle_close(deltart_bundle *bundle);

/* The manifest's value for `key` (e.g. "name", "key_dim", "inputs"), or NULL. */
const char *deltart_bundle_manifest(const deltart_bundle *bundle, const char *key);

/* One forward pass. Every pointer is a CUDA device pointer (as uint64_t);
 * tensors are in FLA's layout: q, k [B, T, H, K]; v, o [B, T, H, V];
 * inputs[i] [B, T, H] in the manifest's order, all in the manifest's dtype
 * (f32, bf16 or f16); h0 (optional, 0 for a zero state) and ht [N, H, K, V]
 * in float32; q, k, v and o 16-byte aligned (cuMemAlloc gives 256).
 * Variable lengths: B = 1 and cu_seqlens, a
 * device array of N + 1 int64 offsets; otherwise cu_seqlens = 0 and N = B. */
typedef struct deltart_forward_args {
  uint64_t q, k, v;
  const uint64_t *inputs;
  size_t num_inputs;
  uint64_t h0, o, ht;
  int64_t B, T, H, K, V;
  uint64_t cu_seqlens;
  int64_t N;
} deltart_forward_args;

/* Validates `args` against the manifest, then launches `entry` (NULL: the
 * bundle's only entry) on `stream` (a CUstream, NULL for the default). */
deltart_status deltart_forward(deltart_bundle *bundle, const char *entry,
                               const deltart_forward_args *args, void *stream);

/* Device memory for apps that have no CUDA headers of their own (through the
 * same run-time-loaded driver, on the primary context of device 0). */
deltart_status deltart_device_alloc(uint64_t *ptr, size_t bytes);
deltart_status deltart_device_free(uint64_t ptr);
deltart_status deltart_copy_to_device(uint64_t dst, const void *src, size_t bytes);
deltart_status deltart_copy_to_host(void *dst, uint64_t src, size_t bytes);
/* Waits for every launch on the context to finish; reports a kernel's failure. */
deltart_status deltart_synchronize(void);

const char *deltart_status_string(deltart_status status);
const char *deltart_last_error(void);
/* One line saying what the last deltart_forward on this thread launched and
 * why: the schedule (wide, narrow or split) and the rule that chose it, the
 * split scan's value tile, the segments' chunk ranges, then each kernel with
 * its grid (and clusters, and whether it was launched to start early); no
 * quotes or backslashes in it. Empty before the first forward; valid until
 * the next forward or the next call of this function on this thread. (A
 * forward records the plan's pieces; they are put into words here.) */
const char *deltart_last_plan(void);

#ifdef __cplusplus
}
#endif

#endif
