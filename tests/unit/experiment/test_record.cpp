// A run's record: the timing statistic it stores and the key (params_key) that
// resume and merge match runs by.
#include <gtest/gtest.h>

#include "experiment/record.h"

namespace sb {
namespace {

TEST(Record, MedianOfSlowestRank) {
  EXPECT_DOUBLE_EQ(median_of_slowest({{1, 5}, {2, 3}, {9, 1}}), 5.0);
  EXPECT_DOUBLE_EQ(median_of_slowest({{1, 2}, {4, 3}}), 3.0);
  EXPECT_DOUBLE_EQ(median_of_slowest({}), 0.0);
}

TEST(Record, ParamsKeyIgnoresStarSettingsForOtherMethods) {
  RunSpec ring;
  ring.method = "ring";
  ring.context_len = 128;
  ring.block_size = 64;
  RunSpec ring_other = ring;
  ring_other.block_size = 32;
  RunContext context{"tiny", "cpu", "host", 4};
  EXPECT_EQ(params_key(ring, context), params_key(ring_other, context));
  RunSpec star = ring;
  star.method = "star";
  RunSpec star_other = ring_other;
  star_other.method = "star";
  EXPECT_NE(params_key(star, context), params_key(star_other, context));
  RunSpec global = ring;
  global.method = "global";
  RunContext more_ranks = context;
  more_ranks.job_world_size = 8;
  EXPECT_EQ(params_key(global, context), params_key(global, more_ranks));  // global runs on one rank
}

TEST(Record, RingLayoutsAndAnchorModesAreDifferentRuns) {
  RunContext context{"tiny", "cpu", "host", 4};
  RunSpec zigzag;
  zigzag.method = "ring";
  zigzag.context_len = 128;
  RunSpec contiguous = zigzag;
  contiguous.ring_layout = "contiguous";
  EXPECT_NE(params_key(zigzag, context), params_key(contiguous, context));
  RunSpec sent;
  sent.method = "star";
  sent.context_len = 128;
  sent.anchor_mode = "sent";
  RunSpec recompute = sent;
  recompute.anchor_mode = "recompute";
  EXPECT_NE(params_key(sent, context), params_key(recompute, context));
}

}  // namespace
}  // namespace sb
