#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "experiment/fidelity.h"

namespace sb {
namespace {

TEST(Fidelity, IdenticalOutputsAreZeroDistance) {
  std::mt19937 generator(1);
  std::normal_distribution<float> normal;
  std::vector<float> logits(3 * 50), hidden(3 * 8);
  for (float& value : logits) value = normal(generator);
  for (float& value : hidden) value = normal(generator);
  Fidelity same = compare_outputs(logits, logits, 50, hidden, hidden, {1, 2, 3}, {1, 2, 3});
  EXPECT_NEAR(same.kl_divergence, 0.0, 1e-12);
  EXPECT_EQ(same.top1_agreement, 1.0);
  EXPECT_EQ(same.generated_agreement, 1.0);
  EXPECT_EQ(same.hidden_relative_error, 0.0);
}

TEST(Fidelity, KlMatchesClosedFormForTwoOutcomes) {
  // P = softmax(0, log 3) = (1/4, 3/4); Q = (1/2, 1/2).
  const float p[2] = {0.f, float(std::log(3.0))}, q[2] = {0.f, 0.f};
  const double expected = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
  EXPECT_NEAR(kl_divergence_of_logits(p, q, 2), expected, 1e-7);
}

TEST(Fidelity, CountsDisagreements) {
  std::vector<float> reference = {0, 5, 0, 5, 0, 0}, other = {5, 0, 0, 5, 0, 0};
  std::vector<float> hidden_ref = {3, 4}, hidden = {3, 4 + 0.5f};
  Fidelity f = compare_outputs(reference, other, 3, hidden_ref, hidden, {7, 8, 9, 10}, {7, 8, 1, 10});
  EXPECT_DOUBLE_EQ(f.top1_agreement, 0.5);
  EXPECT_DOUBLE_EQ(f.generated_agreement, 0.75);
  EXPECT_NEAR(f.hidden_relative_error, 0.1, 1e-7);
  EXPECT_GT(f.kl_divergence, 0.0);
}

}  // namespace
}  // namespace sb
