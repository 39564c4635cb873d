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

/// The 16-bit storage types: float -> bits (round to nearest even; overflow
/// to infinity, NaN kept) and back (exact).
uint16_t floatToHalf(float x);
uint16_t floatToBF16(float x);
float halfToFloat(uint16_t h);
float bf16ToFloat(uint16_t h);
/// Rounds x to the nearest value of `dtype` ("f32", "bf16" or "f16").
float roundTo(const std::string &dtype, float x);
/// x[0..n) in the 16-bit storage type `dtype` ("bf16" or "f16"), and back;
/// a quiet NaN of that type.
std::vector<uint16_t> toStorage16(const std::string &dtype, const float *x, size_t n);
float fromStorage16(const std::string &dtype, uint16_t h);
uint16_t nan16(const std::string &dtype);

} // namespace deltac::npy

#endif
