// The up-front memory plan: what decides whether a run is refused before any
// allocation. The capacities are the usable memory CUDA reports on the device
// machines (H100 80GB: ~79.1 GiB, H200: ~139.8 GiB).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>

#include "attention/duo_pattern.h"
#include "experiment/record.h"
#include "experiment/runner.h"
#include "experiment/sweep.h"
#include "util/error.h"
#include "model/config.h"

namespace sb {
namespace {

constexpr double kGiB = double(1ull << 30);
constexpr double kH100GiB = 79.1, kH200GiB = 139.8;
constexpr int64_t kMlpChunk = 8192;

double planned_gib(const ModelConfig& config, const std::string& method, int64_t context, int ranks) {
  RunSpec spec;
  spec.method.method = parse_setting<Method>(method);
  spec.context_len = context;
  spec.query_len = 64;
  spec.generate = 4;
  spec.plan = plan_method(spec.method, context, ranks);
  return double(Runner::planned_bytes_per_rank(config, spec, DType::BF16, kMlpChunk)) / kGiB;
}

TEST(MemoryPlan, Llama8bGlobalAt128kFitsOneH100) {
  const ModelConfig config = preset_config("llama3.1-8b");
  const double gib = planned_gib(config, "global", 131072, 1);
  fmt::print("plan: llama3.1-8b global 128K on 1 GPU: {:.1f} GiB\n", gib);
  // Weights (~15 GiB) plus a 128K bf16 KV cache (16 GiB) are the floor.
  EXPECT_GT(gib, 31.0);
  EXPECT_LT(gib, kH100GiB) << fmt::format("planned {:.1f} GiB", gib);
}

TEST(MemoryPlan, Llama8bAt1mFitsFourH200WithStarAndRingButNotOneGpu) {
  const ModelConfig config = preset_config("llama3.1-8b");
  const int64_t million = 1 << 20;
  const double ring = planned_gib(config, "ring", million, 4);
  const double star = planned_gib(config, "star", million, 4);
  const double global = planned_gib(config, "global", million, 4);
  fmt::print("plan: llama3.1-8b 1M, 4 ranks: ring {:.1f} GiB, star {:.1f} GiB per rank; global {:.1f} GiB\n", ring,
             star, global);
  EXPECT_LT(ring, kH200GiB) << fmt::format("ring planned {:.1f} GiB", ring);
  EXPECT_LT(star, kH200GiB) << fmt::format("star planned {:.1f} GiB", star);
  // Global keeps the whole 1M KV (128 GiB) on one GPU: refused.
  EXPECT_GT(global, kH200GiB) << fmt::format("global planned {:.1f} GiB", global);
  // Star's busiest rank runs anchor + block (C/2 tokens) but keeps C/4 of KV,
  // like a zigzag ring rank; its activations are chunked, so the two are close.
  EXPECT_NEAR(star, ring, 0.25 * ring);
}

TEST(MemoryPlan, MoreRanksNeedLessPerRank) {
  const ModelConfig config = preset_config("llama3.1-8b");
  for (const char* method : {"ring", "star"}) {
    double previous = 1e30;
    for (int ranks : {1, 2, 4, 8}) {
      const double gib = planned_gib(config, method, 524288, ranks);
      EXPECT_LT(gib, previous) << method << " at " << ranks << " ranks";
      previous = gib;
    }
  }
}

// duo's plan counts each kind's KV: retrieval heads the whole context and
// tail, streaming heads sink + recent; packing heads by kind adds scratch
// that does not depend on the pattern.
TEST(MemoryPlan, DuoCountsKvPerKind) {
  const ModelConfig config = preset_config("llama3-8b-gradient-1048k");
  auto plan = [&](const std::string& method, double sparsity) {
    RunSpec spec;
    spec.method.method = parse_setting<Method>(method);
    spec.context_len = 262144;
    spec.query_len = 64;
    spec.generate = 4;
    spec.plan = plan_method(spec.method, spec.context_len, 1);
    if (method == "duo") {
      DuoOptions options;
      options.pattern = "random:1";
      options.sink = 128;
      options.recent = 256;
      options.sparsity = sparsity;
      spec.method.duo = std::make_shared<const DuoPattern>(load_duo_pattern(options, config));
    }
    return double(Runner::planned_bytes_per_rank(config, spec, DType::BF16, kMlpChunk));
  };
  const double kv_head_row = 2.0 * config.head_dim * 2;  // K and V, bf16
  const double streaming = 128;                           // of 256 KV heads (32 layers x 8)
  const double saved = streaming * (262144 + 64 + 4 - (128 + 256)) * kv_head_row;
  EXPECT_DOUBLE_EQ(plan("duo", 0.0) - plan("duo", 0.5), saved);
  const double scratch =
      262144.0 * (2 * config.num_heads * config.head_dim + 4 * config.num_kv_heads * config.head_dim) * 2;
  EXPECT_DOUBLE_EQ(plan("duo", 0.0) - plan("global", 0.0), scratch);
  fmt::print("plan: gradient-1048k 256K on 1 GPU: global {:.1f} GiB, duo at sparsity 0.5 {:.1f} GiB\n",
             plan("global", 0) / kGiB, plan("duo", 0.5) / kGiB);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

double star_plan_gib(const std::string& mode, int64_t context, int64_t block, int ranks) {
  RunSpec spec;
  spec.method.method = Method::Star;
  spec.context_len = context;
  spec.method.block_rule = {block};
  spec.method.anchor_size = block;
  spec.method.anchor_mode = parse_setting<AnchorMode>(mode);
  spec.query_len = 64;
  spec.generate = 4;
  spec.plan = plan_method(spec.method, context, ranks);
  return double(Runner::planned_bytes_per_rank(preset_config("llama3.1-8b"), spec, DType::BF16, 8192)) /
         double(1ull << 30);
}

// Recompute runs one [anchor; block] at a time; once and sent run a rank's
// blocks in one pass (more activations), once with the anchor in front.
TEST(MemoryPlan, StarAnchorModesPlanTheirForwardPasses) {
  const int64_t million = 1 << 20;
  const double recompute = star_plan_gib("recompute", million, 65536, 4);
  const double once = star_plan_gib("once", million, 65536, 4);
  const double sent = star_plan_gib("sent", million, 65536, 4);
  fmt::print("plan: llama3.1-8b star 1M, 4 ranks, block 64K: recompute {:.1f}, once {:.1f}, sent {:.1f} GiB\n",
             recompute, once, sent);
  EXPECT_LT(recompute, once);
  EXPECT_LT(sent, once);
  EXPECT_LT(once, kH200GiB);
  EXPECT_EQ(star_plan_gib("auto", million, 65536, 4), sent);  // auto resolves to sent
}

TEST(Sweep, FixedBlocksTooLargeForOneLengthAreSkippedThereOnly) {
  SweepSettings settings;
  settings.methods = {Method::Ring, Method::Star};
  settings.seq_lens = {64, 256};
  settings.block_rules = {parse_block_rule("32"), parse_block_rule("128"), parse_block_rule("C/4")};
  settings.ring_layouts = {RingLayoutKind::Zigzag, RingLayoutKind::Contiguous};
  const std::vector<RunSpec> runs = expand_grid(settings, 2);
  std::vector<std::string> stars;
  for (const RunSpec& spec : runs) {
    if (spec.method.method == Method::Star) {
      stars.push_back(fmt::format("{}:{}:{}", spec.context_len, spec.plan.star.block_size, spec.method.block_rule.label()));
    }
  }
  // 128 leaves a rank without a block at 64 (skipped there); C/4 of 64 is 16.
  EXPECT_EQ(stars, (std::vector<std::string>{"64:32:fixed", "64:16:C/4", "256:32:fixed", "256:128:fixed",
                                             "256:64:C/4"}));
  EXPECT_EQ(std::count_if(runs.begin(), runs.end(),
                          [](const RunSpec& spec) { return spec.method.method == Method::Ring; }),
            4);
  settings.block_rules = {parse_block_rule("512")};  // fits no length: a mistake, not a scaling study
  EXPECT_THROW(expand_grid(settings, 2), Error);
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

namespace sb {
namespace {

// One list of method settings serves timing and task sweeps: global first,
// each ring layout, star's grid with anchor modes resolved and repeats gone.
TEST(Sweep, MethodVariantsPutGlobalFirstAndResolveAnchorModes) {
  SweepSettings settings;
  settings.methods = {Method::Star, Method::Ring, Method::Global, Method::Star};
  settings.ring_layouts = {RingLayoutKind::Contiguous, RingLayoutKind::Zigzag, RingLayoutKind::Contiguous};
  settings.block_rules = {parse_block_rule("C/4")};
  settings.anchor_sources = {AnchorSource::First, AnchorSource::Previous};
  settings.anchor_modes = {AnchorMode::Auto, AnchorMode::Sent, AnchorMode::Recompute};
  EXPECT_THROW(method_variants(settings), Error);  // sent cannot serve the "previous" ablation
  settings.anchor_modes = {AnchorMode::Auto, AnchorMode::Recompute};
  std::vector<std::string> labels;
  for (const MethodSettings& variant : method_variants(settings)) labels.push_back(method_label(variant));
  // auto is sent for the first tokens; for "previous" it is recompute, the same run as recompute.
  EXPECT_EQ(labels, (std::vector<std::string>{"global", "star(b=C/4,a=-1)", "star(b=C/4,a=-1,recompute)",
                                              "star(b=C/4,a=-1,previous)", "ring(contiguous)", "ring"}));
  settings.anchor_sizes = {-2};
  EXPECT_THROW(method_variants(settings), Error);
}

// Star settings that resolve to the same sizes at one length run once there.
TEST(Sweep, StarRunsOfTheSameSizesRunOnce) {
  SweepSettings settings;
  settings.methods = {Method::Star};
  settings.seq_lens = {64, 128};
  settings.block_rules = {parse_block_rule("C/4"), parse_block_rule("16")};
  std::vector<std::string> runs;
  for (const RunSpec& spec : expand_grid(settings, 2)) {
    runs.push_back(fmt::format("{}:{}:{}", spec.context_len, spec.plan.star.block_size, method_label(spec.method)));
  }
  EXPECT_EQ(runs, (std::vector<std::string>{"64:16:star(b=C/4,a=-1)", "128:32:star(b=C/4,a=-1)",
                                            "128:16:star(b=16,a=-1)"}));
}

}  // namespace
}  // namespace sb
