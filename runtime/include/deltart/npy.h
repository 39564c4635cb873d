//===- Npy.h - reading and writing .npy arrays ------------------*- C++ -*-===//
#ifndef DELTART_NPY_H
#define DELTART_NPY_H

#include <cstdint>
#include <string>
#include <vector>

namespace deltac::npy {

struct Array {
  std::string dtype;           ///< "f4", "f2", "f8", "i4" or "i8" (little-endian)
  std::vector<int64_t> shape;
  std::vector<float> f;        ///< float data (f4 and f2, converted)
  std::vector<int64_t> i;      ///< integer data (i4 and i8, widened)
  std::vector<double> d;       ///< float64 data (f8)
};

/// Reads a C-ordered little-endian .npy file. Returns false with a message.
bool read(const std::string &path, Array &out, std::string &error);
/// Writes float32 data atomically (temporary file, then rename).
bool writeF32(const std::string &path, const std::vector<int64_t> &shape,
              const std::vector<float> &data, std::string &error);
/// Writes int64 data atomically.
bool writeI64(const std::string &path, const std::vector<int64_t> &shape,
              const std::vector<int64_t> &data, std::string &error);
/// Writes float64 data atomically.
bool writeF64(const std::string &path, const std::vector<int64_t> &shape,
              const std::vector<double> &data, std::string &error);
std::string shapeStr(const std::vector<int64_t> &shape);

} // namespace deltac::npy

#endif
