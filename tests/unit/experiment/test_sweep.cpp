// A sweep's grid and its progress lines.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>

#include "experiment/sweep.h"
#include "util/error.h"

namespace sb {
namespace {

TEST(Sweep, FixedBlocksTooLargeForOneLengthAreSkippedThereOnly) {
  SweepSettings settings;
  settings.methods = {"ring", "star"};
  settings.seq_lens = {64, 256};
  settings.block_sizes = {"32", "128", "C/4"};
  settings.ring_layouts = {"zigzag", "contiguous"};
  const std::vector<RunSpec> runs = expand_grid(settings, 2);
  std::vector<std::string> stars;
  for (const RunSpec& spec : runs) {
    if (spec.method == "star") stars.push_back(fmt::format("{}:{}:{}", spec.context_len, spec.block_size, spec.block_rule));
  }
  // 128 leaves a rank without a block at 64 (skipped there); C/4 of 64 is 16.
  EXPECT_EQ(stars, (std::vector<std::string>{"64:32:fixed", "64:16:C/4", "256:32:fixed", "256:128:fixed",
                                             "256:64:C/4"}));
  EXPECT_EQ(std::count_if(runs.begin(), runs.end(), [](const RunSpec& spec) { return spec.method == "ring"; }), 4);
  settings.block_sizes = {"512"};  // fits no length: a mistake, not a scaling study
  EXPECT_THROW(expand_grid(settings, 2), Error);
}

TEST(Sweep, FormatDurationPicksTheTwoLargestUnits) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(59.4), "59s");
  EXPECT_EQ(format_duration(60), "1m00s");
  EXPECT_EQ(format_duration(187), "3m07s");
  EXPECT_EQ(format_duration(187.3), "3m07s");
  EXPECT_EQ(format_duration(3599), "59m59s");
  EXPECT_EQ(format_duration(3600), "1h00m");
  EXPECT_EQ(format_duration(7500), "2h05m");
  EXPECT_EQ(format_duration(90000), "25h00m");  // no days: hours keep counting
}

}  // namespace
}  // namespace sb
