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
constexpr int64_t kMlpChunk = Transformer::kMlpChunkTokens;

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
  return double(Runner::planned_bytes_per_rank(preset_config("llama3.1-8b"), spec, DType::BF16, kMlpChunk)) /
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

}  // namespace
}  // namespace sb
