// util/dtype's scalar conversions against bit patterns worked out by hand:
// f32 -> bf16 keeps the top 16 bits, rounding the low 16 to nearest, ties to
// even; NaN stays NaN (quiet bit set) instead of rounding into infinity or
// zero; what rounds past the largest finite bf16 becomes infinity.
#include <gtest/gtest.h>

#include <bit>
#include <limits>

#include "util/dtype.h"

namespace sb {
namespace {

uint16_t bf16_of(uint32_t f32_bits) { return f32_to_bf16(std::bit_cast<float>(f32_bits)); }

TEST(F32ToBf16, ExactValuesKeepTheirTopBits) {
  EXPECT_EQ(bf16_of(0x3F800000u), 0x3F80u);  // 1
  EXPECT_EQ(bf16_of(0xC0400000u), 0xC040u);  // -3
  EXPECT_EQ(bf16_of(0x00000000u), 0x0000u);  // +0
  EXPECT_EQ(bf16_of(0x80000000u), 0x8000u);  // -0 keeps its sign
}

TEST(F32ToBf16, RoundsToNearestTiesToEven) {
  // 1 + 2^-8 lies halfway between bf16 0x3F80 (1) and 0x3F81: 0x3F80 is even.
  EXPECT_EQ(bf16_of(0x3F808000u), 0x3F80u);
  // Halfway between 0x3F81 (odd) and 0x3F82: up to the even one.
  EXPECT_EQ(bf16_of(0x3F818000u), 0x3F82u);
  EXPECT_EQ(bf16_of(0x3F807FFFu), 0x3F80u);  // just below half: down
  EXPECT_EQ(bf16_of(0x3F808001u), 0x3F81u);  // just above half: up
  EXPECT_EQ(bf16_of(0xBF808000u), 0xBF80u);  // negative ties to even too
  EXPECT_EQ(bf16_of(0xBF818000u), 0xBF82u);
  // A carry out of the mantissa moves to the next binade: 0x3FFF8000 is halfway
  // between 0x3FFF (odd, just below 2) and 0x4000 (2).
  EXPECT_EQ(bf16_of(0x3FFF8000u), 0x4000u);
  // Subnormals round the same way.
  EXPECT_EQ(bf16_of(0x00008000u), 0x0000u);
  EXPECT_EQ(bf16_of(0x00018000u), 0x0002u);
}

TEST(F32ToBf16, InfinitiesStayAndOverflowBecomesInfinity) {
  EXPECT_EQ(bf16_of(0x7F800000u), 0x7F80u);  // +inf
  EXPECT_EQ(bf16_of(0xFF800000u), 0xFF80u);  // -inf
  EXPECT_EQ(bf16_of(0x7F7F7FFFu), 0x7F7Fu);  // rounds down to the largest finite bf16
  EXPECT_EQ(bf16_of(0x7F7F8000u), 0x7F80u);  // tie, 0x7F7F odd: up, to +inf
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80u);  // 0x7F7FFFFF
  EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::max()), 0xFF80u);
}

TEST(F32ToBf16, NanStaysNanWithTheQuietBit) {
  EXPECT_EQ(bf16_of(0x7FC00000u), 0x7FC0u);  // quiet NaN
  EXPECT_EQ(bf16_of(0x7F800001u), 0x7FC0u);  // signalling, payload in the low bits only: would truncate to inf
  EXPECT_EQ(bf16_of(0x7FA00000u), 0x7FE0u);  // signalling, payload kept, quiet bit added
  EXPECT_EQ(bf16_of(0xFF800001u), 0xFFC0u);  // negative NaN keeps its sign
  // Rounding would carry 0x7FFFFFFF into the sign bit (0x8000, -0).
  EXPECT_EQ(bf16_of(0x7FFFFFFFu), 0x7FFFu);
  EXPECT_EQ(bf16_of(0x7F80FFFFu), 0x7FC0u);
  const float back = bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()));
  EXPECT_NE(back, back);
}

TEST(Bf16ToF32, WidensExactly) {
  EXPECT_EQ(bf16_to_f32(0x3F80u), 1.f);
  EXPECT_EQ(bf16_to_f32(0xC040u), -3.f);
  EXPECT_EQ(bf16_to_f32(0x7F80u), std::numeric_limits<float>::infinity());
  for (uint32_t bits = 0; bits < 0x10000u; bits += 0x101u) {
    if ((bits & 0x7F80u) == 0x7F80u && (bits & 0x7Fu) != 0) continue;  // NaN: no equality
    EXPECT_EQ(f32_to_bf16(bf16_to_f32(uint16_t(bits))), uint16_t(bits)) << std::hex << bits;
  }
}

}  // namespace
}  // namespace sb
