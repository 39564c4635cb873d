//===- Npy.cpp - reading and writing .npy arrays --------------------------===//
#include "deltart/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace deltac::npy {

std::string shapeStr(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign << 31;
    } else { // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = (sign << 31) | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = (sign << 31) | 0x7f800000 | (mant << 13);
  } else {
    bits = (sign << 31) | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// The value of 'key' in the header dict, e.g. 'descr': '<f4'.
static std::string field(const std::string &header, const std::string &key) {
  size_t p = header.find("'" + key + "'");
  if (p == std::string::npos)
    return "";
  p = header.find(':', p);
  if (p == std::string::npos)
    return "";
  ++p;
  while (p < header.size() && header[p] == ' ')
    ++p;
  if (p >= header.size())
    return "";
  if (header[p] == '\'') {
    size_t e = header.find('\'', p + 1);
    return e == std::string::npos ? "" : header.substr(p + 1, e - p - 1);
  }
  if (header[p] == '(') {
    size_t e = header.find(')', p);
    return e == std::string::npos ? "" : header.substr(p, e - p + 1);
  }
  size_t e = header.find_first_of(",}", p);
  return header.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

bool read(const std::string &path, Array &out, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    error = "'" + path + "' is not a .npy file (bad magic)";
    return false;
  }
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char l[2];
    if (!in.read(reinterpret_cast<char *>(l), 2)) {
      error = "'" + path + "' is truncated (header length)";
      return false;
    }
    hlen = l[0] | (l[1] << 8);
  } else if (magic[6] == 2 || magic[6] == 3) {
    unsigned char l[4];
    if (!in.read(reinterpret_cast<char *>(l), 4)) {
      error = "'" + path + "' is truncated (header length)";
      return false;
    }
    hlen = l[0] | (l[1] << 8) | (l[2] << 16) | (uint32_t(l[3]) << 24);
  } else {
    error = "'" + path + "' has an unsupported .npy version " + std::to_string(magic[6]);
    return false;
  }
  if (hlen > (1u << 20)) {
    error = "'" + path + "' has an implausible header length";
    return false;
  }
  std::string header(hlen, '\0');
  if (!in.read(header.data(), hlen)) {
    error = "'" + path + "' is truncated (header)";
    return false;
  }
  std::string descr = field(header, "descr"), order = field(header, "fortran_order"),
              shape = field(header, "shape");
  if (order.find("False") == std::string::npos) {
    error = "'" + path + "' is Fortran-ordered; save it C-ordered (np.ascontiguousarray)";
    return false;
  }
  if (descr != "<f4" && descr != "<f2" && descr != "<f8" && descr != "<i4" && descr != "<i8") {
    error = "'" + path + "' has dtype '" + descr +
            "'; expected float32 or float16 (int32 or int64 for cu_seqlens)";
    return false;
  }
  out.dtype = descr.substr(1);
  out.shape.clear();
  if (shape.size() < 2) {
    error = "'" + path + "' has no readable shape";
    return false;
  }
  std::stringstream ss(shape.substr(1, shape.size() - 2));
  std::string part;
  int64_t count = 1;
  while (std::getline(ss, part, ',')) {
    if (part.find_first_not_of(' ') == std::string::npos)
      continue;
    char *end = nullptr;
    long long d = std::strtoll(part.c_str(), &end, 10);
    if (d < 0 || d > (1ll << 40)) {
      error = "'" + path + "' has a bad dimension '" + part + "'";
      return false;
    }
    out.shape.push_back(d);
    count *= d;
    if (count > (1ll << 34)) {
      error = "'" + path + "' is too large";
      return false;
    }
  }
  size_t elem = out.dtype == "f2" ? 2 : (out.dtype == "i8" || out.dtype == "f8") ? 8 : 4;
  std::vector<char> raw(static_cast<size_t>(count) * elem);
  if (!in.read(raw.data(), static_cast<std::streamsize>(raw.size()))) {
    error = "'" + path + "' is truncated: expected " + std::to_string(count) + " elements of shape " +
            shapeStr(out.shape);
    return false;
  }
  out.f.clear();
  out.i.clear();
  out.d.clear();
  for (int64_t n = 0; n < count; ++n) {
    const char *p = raw.data() + n * elem;
    if (out.dtype == "f4") {
      float v;
      std::memcpy(&v, p, 4);
      out.f.push_back(v);
    } else if (out.dtype == "f2") {
      uint16_t v;
      std::memcpy(&v, p, 2);
      out.f.push_back(halfToFloat(v));
    } else if (out.dtype == "f8") {
      double v;
      std::memcpy(&v, p, 8);
      out.d.push_back(v);
    } else if (out.dtype == "i4") {
      int32_t v;
      std::memcpy(&v, p, 4);
      out.i.push_back(v);
    } else {
      int64_t v;
      std::memcpy(&v, p, 8);
      out.i.push_back(v);
    }
  }
  return true;
}

static bool writeRaw(const std::string &path, const char *descr, const std::vector<int64_t> &shape,
                     const void *data, size_t bytes, std::string &error) {
  std::string dims;
  for (int64_t d : shape)
    dims += std::to_string(d) + ", ";
  if (shape.size() > 1)
    dims.resize(dims.size() - 2);
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" +
                       dims + "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) {
      error = "cannot create '" + tmp + "': " + std::strerror(errno);
      return false;
    }
    uint16_t hl = static_cast<uint16_t>(header.size());
    out.write("\x93NUMPY\x01\x00", 8);
    out.put(static_cast<char>(hl & 0xff));
    out.put(static_cast<char>(hl >> 8));
    out << header;
    out.write(static_cast<const char *>(data), static_cast<std::streamsize>(bytes));
    out.close();
    if (!out) {
      error = "cannot write '" + tmp + "'";
      std::remove(tmp.c_str());
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

bool writeF32(const std::string &path, const std::vector<int64_t> &shape,
              const std::vector<float> &data, std::string &error) {
  return writeRaw(path, "<f4", shape, data.data(), data.size() * sizeof(float), error);
}

bool writeI64(const std::string &path, const std::vector<int64_t> &shape,
              const std::vector<int64_t> &data, std::string &error) {
  return writeRaw(path, "<i8", shape, data.data(), data.size() * sizeof(int64_t), error);
}

bool writeF64(const std::string &path, const std::vector<int64_t> &shape,
              const std::vector<double> &data, std::string &error) {
  return writeRaw(path, "<f8", shape, data.data(), data.size() * sizeof(double), error);
}

uint16_t floatToBF16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) // NaN: keep it quiet and a NaN
    return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return uint16_t(bits >> 16);
}

float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  uint32_t sign = (bits >> 16) & 0x8000, absBits = bits & 0x7fffffff;
  if (absBits > 0x7f800000)
    return uint16_t(sign | 0x7e00);
  if (absBits >= 0x477ff000) // rounds to or beyond 65520: infinity
    return uint16_t(sign | 0x7c00);
  int32_t exp = int32_t(absBits >> 23) - 127 + 15;
  uint32_t mant = (absBits & 0x7fffff) | 0x800000;
  if (exp <= 0) { // subnormal or zero in f16
    if (exp < -10)
      return uint16_t(sign);
    uint32_t shift = uint32_t(14 - exp);
    uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1)))
      ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = (uint32_t(exp) << 10) | ((mant >> 13) & 0x3ff), rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent, which is right
  return uint16_t(sign | half);
}

float roundTo(const std::string &dtype, float x) {
  if (dtype == "bf16")
    return bf16ToFloat(floatToBF16(x));
  if (dtype == "f16")
    return halfToFloat(floatToHalf(x));
  return x;
}

std::vector<uint16_t> toStorage16(const std::string &dtype, const float *x, size_t n) {
  std::vector<uint16_t> h(n);
  for (size_t i = 0; i < n; ++i)
    h[i] = dtype == "bf16" ? floatToBF16(x[i]) : floatToHalf(x[i]);
  return h;
}

float fromStorage16(const std::string &dtype, uint16_t h) {
  return dtype == "bf16" ? bf16ToFloat(h) : halfToFloat(h);
}

uint16_t nan16(const std::string &dtype) { return dtype == "bf16" ? 0x7fc0 : 0x7e00; }

} // namespace deltac::npy
