// A run record: its numbers, and the params_key resume and merge read.
#include <gtest/gtest.h>

#include <tuple>

#include "attention/method_settings.h"
#include "experiment/record.h"

namespace sb {
namespace {

TEST(Record, MedianOfSlowestRank) {
  EXPECT_DOUBLE_EQ(median_of_slowest({{1, 5}, {2, 3}, {9, 1}}), 5.0);
  EXPECT_DOUBLE_EQ(median_of_slowest({{1, 2}, {4, 3}}), 3.0);
  EXPECT_DOUBLE_EQ(median_of_slowest({}), 0.0);
}

// A spec planned for `ranks`, as the sweeps make them.
RunSpec planned(RunSpec spec, int ranks) {
  spec.plan = plan_method(spec.method, spec.context_len, ranks);
  return spec;
}

TEST(Record, ParamsKeyIgnoresStarSettingsForOtherMethods) {
  RunSpec ring;
  ring.method.method = Method::Ring;
  ring.context_len = 128;
  ring.method.block_rule = {64};
  RunSpec ring_other = ring;
  ring_other.method.block_rule = {32};
  RunContext context{"tiny", "cpu", "host", 2};
  EXPECT_EQ(params_key(planned(ring, 2), context), params_key(planned(ring_other, 2), context));
  RunSpec star = ring;
  star.method.method = Method::Star;
  RunSpec star_other = ring_other;
  star_other.method.method = Method::Star;
  EXPECT_NE(params_key(planned(star, 2), context), params_key(planned(star_other, 2), context));
  RunSpec global = ring;
  global.method.method = Method::Global;
  RunContext more_ranks = context;
  more_ranks.job_world_size = 8;
  EXPECT_EQ(params_key(global, context), params_key(global, more_ranks));  // global runs on one rank
}

TEST(Record, RingLayoutsAndAnchorModesAreDifferentRuns) {
  RunContext context{"tiny", "cpu", "host", 4};
  auto planned = [](RunSpec spec) {
    spec.plan = plan_method(spec.method, spec.context_len, 4);
    return spec;
  };
  RunSpec zigzag;
  zigzag.method.method = Method::Ring;
  zigzag.context_len = 128;
  RunSpec contiguous = zigzag;
  contiguous.method.ring_layout = RingLayoutKind::Contiguous;
  EXPECT_NE(params_key(planned(zigzag), context), params_key(planned(contiguous), context));
  RunSpec sent;
  sent.method.method = Method::Star;
  sent.context_len = 128;
  sent.method.anchor_mode = AnchorMode::Sent;
  RunSpec recompute = sent;
  recompute.method.anchor_mode = AnchorMode::Recompute;
  EXPECT_NE(params_key(planned(sent), context), params_key(planned(recompute), context));
}

// Star's key names its block rule: a C/k run and a fixed run of the same block
// at this length are other runs (issue 20, item 16), and a key written before
// keys named the rule reads as today's through star_key_with_block_rule.
TEST(Record, StarKeysNameTheBlockRule) {
  RunContext context{"tiny", "cpu", "host", 4};
  auto star = [&](const std::string& rule, int64_t context_len) {
    RunSpec spec;
    spec.method.method = Method::Star;
    spec.method.block_rule = parse_block_rule(rule);
    spec.context_len = context_len;
    return planned(spec, 4);
  };
  for (auto [rule, fixed, length] : {std::tuple{"C/8", "16384", int64_t(131072)}, std::tuple{"C/6", "16", int64_t(96)},
                                     std::tuple{"0", "24", int64_t(96)}}) {
    const RunSpec by_rule = star(rule, length), by_tokens = star(fixed, length);
    ASSERT_EQ(by_rule.plan.star.block_size, by_tokens.plan.star.block_size) << rule;
    const std::string rule_key = params_key(by_rule, context), fixed_key = params_key(by_tokens, context);
    EXPECT_NE(rule_key, fixed_key) << rule;
    EXPECT_NE(rule_key.find(";block_rule=" + by_rule.method.block_rule.label() + ";anchor_source="), std::string::npos)
        << rule_key;
    EXPECT_NE(fixed_key.find(";block_size=" + std::string(fixed) + ";"), std::string::npos) << fixed_key;
    EXPECT_NE(fixed_key.find(";block_rule=fixed;"), std::string::npos) << fixed_key;
    // The key as an earlier starbench wrote it (no rule) reads as today's; others are left alone.
    std::string legacy = rule_key;
    legacy.erase(legacy.find(";block_rule="), std::string(";block_rule=").size() + by_rule.method.block_rule.label().size());
    EXPECT_EQ(star_key_with_block_rule(legacy, by_rule.method.block_rule.label()), rule_key);
    EXPECT_EQ(star_key_with_block_rule(rule_key, "fixed"), rule_key);
  }
  RunSpec ring;
  ring.method.method = Method::Ring;
  ring.context_len = 96;
  const std::string ring_key = params_key(planned(ring, 4), context);
  EXPECT_EQ(ring_key.find("block_rule"), std::string::npos);
  EXPECT_EQ(star_key_with_block_rule(ring_key, "C/4"), ring_key);
}

}  // namespace
}  // namespace sb
