// Synthetic weights are part of every synthetic-model result: their values must
// not change under a refactoring. The bit patterns below were computed with the
// definition as it stood at commit 1dcfa5b (src/model/weight_spec.h then).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>

#include "kernels/synthetic_value.h"
#include "model/weight_spec.h"

namespace sb {
namespace {

TEST(SyntheticValue, PinnedBitPatterns) {
  struct Case {
    uint64_t seed, index;
    uint32_t bits;
  };
  const Case cases[] = {
      {0ull, 0ull, 0x3F444150u},                                      // 0.76662159
      {0ull, 1ull, 0xBE0C3B10u},                                      // -0.136944056
      {1ull, 0ull, 0x3E085168u},                                      // 0.13312304
      {1234ull, 7ull, 0xBF0B7342u},                                   // -0.544727445
      {11400714819323198485ull, 1000000ull, 0xBF54A47Au},             // -0.830634713
      {18446744073709551615ull, 18446744073709551614ull, 0x3F3C14ACu},  // 0.734690428
      {42ull, 123456789ull, 0xBF048C4Eu},                             // -0.51776588
  };
  for (const Case& c : cases) {
    EXPECT_EQ(std::bit_cast<uint32_t>(synthetic_value(c.seed, c.index)), c.bits) << "seed " << c.seed << " index " << c.index;
  }
}

TEST(SyntheticValue, PinnedTensorSeeds) {
  EXPECT_EQ(synthetic_seed(7, "model.layers.0.self_attn.q_proj.weight"), 14282305881528729089ull);
  EXPECT_EQ(synthetic_seed(1234, "model.embed_tokens.weight"), 13347035994716494047ull);
}

TEST(SyntheticValue, UniformInMinusOneToOne) {
  double sum = 0;
  float low = 1, high = -1;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float v = synthetic_value(99, uint64_t(i));
    ASSERT_GE(v, -1.f);
    ASSERT_LT(v, 1.f);
    low = std::min(low, v), high = std::max(high, v);
    sum += v;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_LT(low, -0.999f);
  EXPECT_GT(high, 0.999f);
}

}  // namespace
}  // namespace sb
