// The cost model the simulator charges from: measured points are reproduced,
// interpolation stays between neighbours, extrapolation follows the size law,
// and a bad file is refused naming the file and the field.
#include <gtest/gtest.h>

#include <cmath>

#include "costmodel/hardware_profile.h"
#include "tests/support/error_message.h"

namespace sb {
namespace {

HardwareProfile sample_profile() {
  HardwareProfile p;
  p.path = "sample.json";
  p.gpu = "Test GPU";
  p.origin = "test";
  p.memory_bytes = 80e9;
  p.gemm = {{4096, 4096, {{1, 0.02}, {64, 0.03}, {4096, 0.3}, {65536, 4.0}}},
            {14336, 4096, {{1, 0.06}, {64, 0.08}, {4096, 1.0}}}};
  for (int64_t q : {128, 1024, 8192}) p.attention.push_back({"causal", q, q, 32, 8, 128, 0.001 * double(q * q) / 1e4});
  for (int64_t q : {1, 1024}) {
    for (int64_t k : {1024, 16384}) {
      p.attention.push_back({"none", q, k, 32, 8, 128, 0.01 + 1e-7 * double(q * k)});
      if (k > q) p.attention.push_back({"bottom_right", q, k, 32, 8, 128, 0.01 + 0.8e-7 * double(q * k)});
    }
  }
  for (ElementwiseOp op : elementwise_ops()) p.elementwise[elementwise_name(op)] = {5e-6, 2e12};
  p.has_comm = true;
  p.p2p = {20e-6, 350e9};
  p.broadcast = {25e-6, 300e9};
  p.overlap_slowdown = 1.1;
  return p;
}

TEST(HardwareProfile, MeasuredPointsAreReproduced) {
  const HardwareProfile p = sample_profile();
  EXPECT_NEAR(p.matmul_seconds(64, 4096, 4096), 0.03e-3, 1e-12);
  EXPECT_NEAR(p.matmul_seconds(4096, 14336, 4096), 1.0e-3, 1e-12);
  for (const AttentionPoint& point : p.attention) {
    const AttentionMask mask = point.mask == "none"     ? AttentionMask::none()
                               : point.mask == "causal" ? AttentionMask::causal(0)
                                                        : AttentionMask::bottom_right(point.q_len, point.k_len);
    EXPECT_NEAR(p.attention_seconds(mask, point.q_len, point.k_len, 32, 8, 128), point.ms * 1e-3, 1e-12)
        << point.mask << " " << point.q_len << " x " << point.k_len;
  }
}

TEST(HardwareProfile, InterpolationStaysBetweenNeighboursAndExtrapolatesBySize) {
  const HardwareProfile p = sample_profile();
  const double between = p.matmul_seconds(1000, 4096, 4096);
  EXPECT_GT(between, 0.03e-3);
  EXPECT_LT(between, 0.3e-3);
  // Beyond the largest measurement: time proportional to tokens.
  EXPECT_NEAR(p.matmul_seconds(131072, 4096, 4096), 8.0e-3, 1e-12);
  // Below the smallest: the latency floor.
  EXPECT_NEAR(p.matmul_seconds(1, 4096, 4096), p.matmul_seconds(1, 4096, 4096), 0);
  // A shape never measured scales the nearest one (in log N x K) by N x K.
  EXPECT_NEAR(p.matmul_seconds(64, 6144, 4096), 1.5 * 0.03e-3, 1e-12);
  EXPECT_NEAR(p.matmul_seconds(64, 8192, 4096), 0.08e-3 * 8192.0 / 14336.0, 1e-12);
  // Beyond the grid the rate holds: causal prefill grows with its visible pairs (~ the square of the length).
  const AttentionMask causal = AttentionMask::causal(0);
  EXPECT_NEAR(p.attention_seconds(causal, 16384, 16384, 32, 8, 128),
              causal.visible_pairs(16384, 16384) / causal.visible_pairs(8192, 8192) *
                  p.attention_seconds(causal, 8192, 8192, 32, 8, 128),
              1e-12);
  // A bottom-right block below its row's measured keys: rate held, time follows the pairs (a time held
  // constant would charge q = 1024 against 1500 keys as much as against 16384).
  const double small = p.attention_seconds(AttentionMask::bottom_right(1024, 1500), 1024, 1500, 32, 8, 128);
  EXPECT_LT(small, p.attention_seconds(AttentionMask::bottom_right(1024, 16384), 1024, 16384, 32, 8, 128) / 5);
  // Far below the grid: never cheaper than the fastest call measured.
  EXPECT_GE(p.attention_seconds(AttentionMask::none(), 1, 8, 32, 8, 128), 0.01e-3 * 0.999);
  // Twice the query heads, twice the time.
  EXPECT_NEAR(p.attention_seconds(AttentionMask::none(), 1024, 1024, 64, 8, 128),
              2 * p.attention_seconds(AttentionMask::none(), 1024, 1024, 32, 8, 128), 1e-12);
  // A square mask hiding more than causal costs causal's time x its share of causal's visible pairs.
  const AttentionMask shifted = AttentionMask::causal(-512);
  const double ratio = shifted.visible_pairs(1024, 1024) / AttentionMask::causal(0).visible_pairs(1024, 1024);
  EXPECT_NEAR(p.attention_seconds(shifted, 1024, 1024, 32, 8, 128),
              ratio * p.attention_seconds(AttentionMask::causal(0), 1024, 1024, 32, 8, 128), 1e-12);
  EXPECT_EQ(p.attention_seconds(AttentionMask::causal(-5000), 1024, 1024, 32, 8, 128), 0.0);  // nothing visible
  EXPECT_NEAR(p.elementwise_seconds(ElementwiseOp::RmsNorm, 2e9), 5e-6 + 1e-3, 1e-15);
}

TEST(HardwareProfile, JsonRoundTripAndDerivation) {
  const HardwareProfile p = sample_profile();
  const HardwareProfile back = parse_hardware_profile(hardware_profile_json(p), "round-trip");
  EXPECT_EQ(back.gemm.size(), p.gemm.size());
  EXPECT_EQ(back.attention.size(), p.attention.size());
  EXPECT_DOUBLE_EQ(back.matmul_seconds(1000, 4096, 4096), p.matmul_seconds(1000, 4096, 4096));
  EXPECT_DOUBLE_EQ(back.overlap_slowdown, 1.1);
  // Derived for a GPU with a third of the compute and 70 % of the bandwidth.
  const HardwareProfile slower = derive_profile(p, "Slower GPU", 40e9, {1.0 / 3.0, 0.7, 0.5}, "derived");
  EXPECT_NEAR(slower.matmul_seconds(65536, 4096, 4096), 3 * p.matmul_seconds(65536, 4096, 4096), 1e-12);
  EXPECT_NEAR(slower.matmul_seconds(1, 4096, 4096), p.matmul_seconds(1, 4096, 4096) / 0.7, 1e-12);
  EXPECT_NEAR(slower.p2p.bytes_per_s, 175e9, 1);
  EXPECT_EQ(slower.gpu, "Slower GPU");
}

std::string refusal(const std::string& text) {
  return testing::error_message_of([&] { parse_hardware_profile(text, "bad.json"); });
}

TEST(HardwareProfile, ErrorsNameTheFileAndTheField) {
  const std::string good = hardware_profile_json(sample_profile());
  EXPECT_EQ(refusal(good), "");
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  EXPECT_NE(refusal("{").find("bad.json: not valid JSON"), std::string::npos);
  EXPECT_NE(refusal(edited("\"memory_bytes\"", "\"memory\"")).find("bad.json: field 'memory_bytes' is missing"),
            std::string::npos);
  EXPECT_NE(refusal(edited("\"mask\": \"none\"", "\"mask\": \"diagonal\"")).find("bad.json: field 'attention["),
            std::string::npos);
  EXPECT_NE(refusal(edited("\"overlap_slowdown\": 1.1", "\"overlap_slowdown\": 0.5")).find("comm.overlap_slowdown"),
            std::string::npos);
  EXPECT_NE(refusal(edited("\"n\": 4096", "\"n\": -4")).find("bad.json: field 'gemm[0].n' must be a positive integer"),
            std::string::npos);
  EXPECT_NE(refusal(edited("\"format\": \"starbench-hardware-profile\"", "\"format\": \"other\""))
                .find("bad.json: field 'format'"),
            std::string::npos);
}

// Profiles outlive the op list: one written when the backends had an op they
// no longer have (Backend::add, dropped unused) still loads; one that lacks
// an op the simulator charges is refused naming it.
TEST(HardwareProfile, ElementwiseOpsExtraIgnoredMissingRefused) {
  const std::string good = hardware_profile_json(sample_profile());
  const std::string opening = "\"elementwise\": {";
  ASSERT_NE(good.find(opening), std::string::npos);
  std::string extra = good;
  extra.insert(extra.find(opening) + opening.size(), "\"add\": {\"bytes_per_s\": 1e12, \"latency_s\": 1e-6},");
  EXPECT_EQ(refusal(extra), "");
  std::string missing = good;
  missing.replace(missing.find("\"swiglu\""), 8, "\"swiglu_old\"");
  const std::string message = refusal(missing);
  EXPECT_NE(message.find("bad.json"), std::string::npos) << message;
  EXPECT_NE(message.find("elementwise"), std::string::npos) << message;
  EXPECT_NE(message.find("swiglu"), std::string::npos) << message;
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

// The tensor split's all-reduce: optional (older profiles lack it), kept by a
// round trip, scaled by the interconnect ratio when derived.
TEST(HardwareProfile, AllReduceIsOptionalAndRoundTrips) {
  HardwareProfile p = sample_profile();
  EXPECT_FALSE(parse_hardware_profile(hardware_profile_json(p), "without").has_all_reduce);
  p.has_all_reduce = true;
  p.all_reduce = {30e-6, 200e9};
  const HardwareProfile back = parse_hardware_profile(hardware_profile_json(p), "with");
  ASSERT_TRUE(back.has_all_reduce);
  EXPECT_DOUBLE_EQ(back.all_reduce.latency_s, 30e-6);
  EXPECT_DOUBLE_EQ(back.all_reduce.bytes_per_s, 200e9);
  EXPECT_NEAR(derive_profile(p, "Slower GPU", 40e9, {1.0, 1.0, 0.5}, "derived").all_reduce.bytes_per_s, 100e9, 1);
}

}  // namespace
}  // namespace sb
