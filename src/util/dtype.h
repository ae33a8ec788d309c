#pragma once
// Element types that cross module boundaries, and scalar conversions that are
// exact for the storage formats of HF checkpoints (bf16 and f16 widen to f32
// without rounding).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace sb {

enum class DType { F32, BF16, F16, I32, I64 };

size_t dtype_size(DType dtype);
std::string dtype_name(DType dtype);

inline float bf16_to_f32(uint16_t bits) {
  uint32_t widened = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof value);
  return value;
}

// Round to nearest even, NaN kept quiet: the rounding cuBLAS and torch use.
inline uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t((bits + rounding) >> 16);
}

float f16_to_f32(uint16_t bits);

}  // namespace sb
