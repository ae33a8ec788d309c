// calibrate's fit of a linear cost (latency + bytes / bandwidth) to measured
// points: the line through the smallest and the largest point.
#include <gtest/gtest.h>

#include "experiment/calibrate.h"

namespace sb {
namespace {

// Milliseconds a call of `bytes` takes under latency_s + bytes / bytes_per_s.
double ms_of(double bytes, double latency_s, double bytes_per_s) { return (latency_s + bytes / bytes_per_s) * 1e3; }

TEST(FitLinear, RecoversAnExactLineFromItsEndsInAnyOrder) {
  const double latency = 10e-6, bandwidth = 100e9;
  const LinearCost fit = fit_linear({{1e7, ms_of(1e7, latency, bandwidth)},
                                     {1e3, ms_of(1e3, latency, bandwidth)},
                                     {1e5, ms_of(1e5, latency, bandwidth) * 3}});  // a middle point does not count
  EXPECT_NEAR(fit.latency_s, latency, latency * 1e-9);
  EXPECT_NEAR(fit.bytes_per_s, bandwidth, bandwidth * 1e-9);
  EXPECT_NEAR(fit.seconds(1e6), latency + 1e6 / bandwidth, 1e-15);
}

TEST(FitLinear, TimeThatFallsWithSizeTakesTheLargestPointsBandwidth) {
  // Noise: the large call measured faster than the small one.
  const LinearCost fit = fit_linear({{1e3, 0.02}, {1e6, 0.01}});
  EXPECT_DOUBLE_EQ(fit.bytes_per_s, 1e6 / 0.01e-3);
  EXPECT_NEAR(fit.latency_s, 0.02e-3 - 1e3 * 0.01e-3 / 1e6, 1e-18);
}

TEST(FitLinear, LatencyIsNeverNegative) {
  // The line through these ends crosses zero bytes below zero seconds.
  const LinearCost fit = fit_linear({{1e3, 0.0001}, {1e6, 1.0}});
  EXPECT_EQ(fit.latency_s, 0.0);
  EXPECT_NEAR(fit.bytes_per_s, (1e6 - 1e3) / ((1.0 - 0.0001) * 1e-3), 1.0);
}

TEST(FitLinear, OnePointIsAllBandwidth) {
  const LinearCost fit = fit_linear({{4e6, 2.0}});
  EXPECT_DOUBLE_EQ(fit.bytes_per_s, 4e6 / 2e-3);
  EXPECT_NEAR(fit.latency_s, 0.0, 1e-18);
}

}  // namespace
}  // namespace sb
