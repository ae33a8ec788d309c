// A run's expected work (experiment/progress.h) against what the cpu backend
// counts (Backend::work()) when the method runs on one rank, and the ETA's
// arithmetic. tests/mpi/test_expected_work.cpp checks phase 1 on 1-4 ranks.
#include <gtest/gtest.h>

#include <cmath>

#include "attention/method_factory.h"
#include "experiment/forward_pass.h"
#include "experiment/progress.h"
#include "tests/support/tiny_model.h"

namespace sb {
namespace {

testing::TinyModel& tiny() {
  static testing::TinyModel instance(3, /*with_world=*/false);
  return instance;
}

RunSpec one_rank_spec(MethodSettings method, int64_t context_len, int64_t query_len, int64_t generate) {
  RunSpec spec;
  spec.method = method;
  spec.plan = plan_method(method, context_len, 1);
  spec.context_len = context_len;
  spec.query_len = query_len;
  spec.generate = generate;
  spec.repeats = 1;
  spec.warmup = 0;
  return spec;
}

MethodSettings star(const std::string& block, int64_t anchor, AnchorMode mode) {
  MethodSettings settings{Method::Star, parse_block_rule(block), anchor};
  settings.anchor_mode = mode;
  return settings;
}

struct Counted {
  WorkCount context;  // phase 1
  double total = 0;   // phase 1 + query + decoding
};

// Runs the method as `starbench forward` does, counting the backend's work.
Counted count_work(const RunSpec& spec) {
  testing::TinyModel& s = tiny();
  auto context = testing::random_tokens(17, spec.context_len, s.config.vocab_size);
  auto query = testing::random_tokens(18, spec.query_len, s.config.vocab_size);
  auto method = make_method(spec.method, spec.plan, *s.model, *s.local, spec.query_len + spec.generate);
  s.backend->reset_work();
  method->encode_context(context);
  Counted counted;
  counted.context = s.backend->work();
  method = make_method(spec.method, spec.plan, *s.model, *s.local, spec.query_len + spec.generate);
  s.backend->reset_work();
  run_forward_pass(*method, *s.model, context, query, spec.generate);
  counted.total = s.backend->work().matmul_flops + s.backend->work().attention_flops;
  return counted;
}

std::vector<RunSpec> one_rank_runs() {
  const auto pattern = testing::duo_test_pattern({{1, 0}, {0, 0}}, 4, 16);
  MethodSettings duo{Method::Duo};
  duo.duo = pattern;
  MethodSettings star_duo = star("C/4", -1, AnchorMode::Once);
  star_duo.duo = pattern;
  MethodSettings contiguous{Method::Ring};
  contiguous.ring_layout = RingLayoutKind::Contiguous;
  return {one_rank_spec({Method::Global}, 100, 6, 4),
          one_rank_spec({Method::Ring}, 100, 6, 4),
          one_rank_spec(contiguous, 77, 5, 3),
          one_rank_spec(star("C/4", -1, AnchorMode::Recompute), 100, 6, 4),
          one_rank_spec(star("C/4", 8, AnchorMode::Once), 101, 6, 4),
          one_rank_spec(star("C/4", 0, AnchorMode::Once), 100, 6, 4),
          one_rank_spec(star("24", 8, AnchorMode::Sent), 100, 6, 1),
          one_rank_spec(duo, 120, 6, 4),
          one_rank_spec(star_duo, 120, 6, 4)};
}

TEST(ExpectedWork, PhaseOneIsWhatTheCpuBackendCounts) {
  for (const RunSpec& spec : one_rank_runs()) {
    const WorkCount expected = expected_context_work(tiny().config, spec, 0);
    const WorkCount counted = count_work(spec).context;
    const std::string label = method_label(spec.method);
    EXPECT_GT(counted.attention_flops, 0) << label;
    EXPECT_NEAR(expected.matmul_flops, counted.matmul_flops, 1e-9 * counted.matmul_flops) << label;
    EXPECT_NEAR(expected.attention_flops, counted.attention_flops, 1e-9 * counted.attention_flops) << label;
  }
}

TEST(ExpectedWork, WholeRunOnOneRankIsWhatTheCpuBackendCounts) {
  // `forward` takes the LM head of every query row where the runner takes the last one: that difference is added.
  const ModelConfig& config = tiny().config;
  for (const RunSpec& spec : one_rank_runs()) {
    const double lm_rows = 2.0 * double(config.hidden_size) * double(config.vocab_size) * double(spec.query_len - 1);
    const double expected = expected_run_work(config, spec) + lm_rows;
    const double counted = count_work(spec).total;
    EXPECT_NEAR(expected, counted, 1e-9 * counted) << method_label(spec.method);
  }
}

TEST(ExpectedWork, ScalesWithRepeatsAndOrdersRunsAsTheirCounts) {
  const ModelConfig& config = tiny().config;
  RunSpec spec = one_rank_spec({Method::Global}, 64, 4, 2);
  const double once = expected_run_work(config, spec);
  spec.repeats = 3;
  spec.warmup = 1;
  EXPECT_DOUBLE_EQ(expected_run_work(config, spec), 4 * once);
  // Longer contexts: more work, as counted; star with small blocks: less than global at the same length.
  std::vector<RunSpec> runs = {one_rank_spec({Method::Global}, 64, 4, 2), one_rank_spec({Method::Global}, 128, 4, 2),
                               one_rank_spec({Method::Global}, 256, 4, 2),
                               one_rank_spec(star("C/8", -1, AnchorMode::Once), 256, 4, 2)};
  std::vector<double> counted;
  for (const RunSpec& run : runs) counted.push_back(count_work(run).total);
  for (size_t a = 0; a < runs.size(); ++a) {
    for (size_t b = 0; b < runs.size(); ++b) {
      const bool expected_less = expected_run_work(config, runs[a]) < expected_run_work(config, runs[b]);
      const bool counted_less = counted[a] < counted[b];
      EXPECT_EQ(expected_less, counted_less) << a << " vs " << b;
    }
  }
  // A rank that takes no part in global issues nothing.
  const RunSpec global = one_rank_spec({Method::Global}, 64, 4, 2);
  EXPECT_EQ(expected_context_work(config, global, 1).matmul_flops, 0.0);
}

TEST(Eta, ScalesTheElapsedTimeByTheWorkLeft) {
  EXPECT_FALSE(eta_seconds(5.0, 0.0, 10.0).has_value());
  EXPECT_DOUBLE_EQ(*eta_seconds(2.0, 1.0, 9.0), 18.0);
  EXPECT_DOUBLE_EQ(*eta_seconds(2.0, 1.0, -1.0), 0.0);

  double now = 100.0;
  SweepProgress progress({1.0, 3.0, 6.0, 10.0}, [&] { return now; });
  EXPECT_EQ(progress.eta(), "-");
  EXPECT_FALSE(progress.expected_seconds(1).has_value());
  progress.begin(0);
  now = 102.0;  // the first run (work 1) took 2 s
  progress.end(0);
  EXPECT_DOUBLE_EQ(*progress.eta_s(), 2.0 * 19.0);
  EXPECT_DOUBLE_EQ(*progress.expected_seconds(3), 20.0);
  // A run the file holds leaves the remaining work without counting as done.
  progress.skip(1);
  EXPECT_DOUBLE_EQ(*progress.eta_s(), 2.0 * 16.0);
  // A better estimate once its input is known.
  progress.update(2, 4.0);
  EXPECT_DOUBLE_EQ(*progress.eta_s(), 2.0 * 14.0);
  // While a run is under way its time so far comes off.
  progress.begin(2);
  now = 105.0;
  EXPECT_DOUBLE_EQ(progress.run_seconds(), 3.0);
  EXPECT_DOUBLE_EQ(*progress.eta_s(), 2.0 * 14.0 - 3.0);
  EXPECT_EQ(progress.eta(), "25s");
  now = 110.0;  // took 8 s for work 4: the pace is now (102 - 100 + 110 - 102) s / 5 work = 2 s per work
  progress.end(2);
  EXPECT_DOUBLE_EQ(*progress.eta_s(), 10.0 / 5.0 * 10.0);
  progress.begin(3);
  now = 140.0;
  EXPECT_DOUBLE_EQ(*progress.eta_s(), 0.0);  // late: never negative
  progress.end(3);
  EXPECT_DOUBLE_EQ(*progress.eta_s(), 0.0);
}

}  // namespace
}  // namespace sb
