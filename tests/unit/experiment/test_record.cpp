// A run record: its numbers, and the params_key resume and merge read.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sb
