// The memory plan per GPU of hosts of several GPUs (tensor split): the
// weights and KV of a GPU shrink by G (the embedding and lm_head stay), and a
// model whose weights do not fit one GPU is refused with advice that can work.
#include <gtest/gtest.h>

#include <string>

#include "experiment/runner.h"
#include "model/config.h"
#include "util/error.h"

namespace sb {
namespace {

constexpr double kGiB = double(1ull << 30);

// A run on `hosts` hosts: star's blocks are context / 4.
RunSpec spec_of(const std::string& method, int64_t context, int hosts) {
  RunSpec spec;
  spec.method.method = parse_setting<Method>(method);
  spec.method.block_rule = parse_block_rule("C/4");
  spec.context_len = context;
  spec.query_len = 64;
  spec.generate = 4;
  spec.plan = plan_method(spec.method, context, hosts);
  return spec;
}

double planned_gib(const ModelConfig& config, const RunSpec& spec, int gpus) {
  return double(Runner::planned_bytes_per_rank(config, spec, DType::BF16, 8192, gpus)) / kGiB;
}

TEST(HostMemoryPlan, Llama70bOnHostsOfTwoA100sFitsAndOneGpuDoesNot) {
  const ModelConfig config = preset_config("llama3.1-70b");
  const RunSpec ring = spec_of("ring", 32768, 4);
  const double one = planned_gib(config, ring, 1), two = planned_gib(config, ring, 2);
  EXPECT_GT(one, 131.0);  // 141 GB of weights
  EXPECT_LT(two, 79.1);   // an A100 80GB's usable memory
  // Half the layers' weights and KV, the whole embedding and lm_head (2 x 2 GiB).
  EXPECT_NEAR(two, one / 2 + 2 * 128256.0 * 8192 * 2 / kGiB, 2.0);
}

TEST(HostMemoryPlan, Llama405bNeedsEightH200sPerHost) {
  const ModelConfig config = preset_config("llama3.1-405b");
  const RunSpec star = spec_of("star", 16384, 4);
  EXPECT_GT(planned_gib(config, star, 4), 139.8);
  EXPECT_LT(planned_gib(config, star, 8), 139.8);
  // The layer split holds whole layers: 126 over 8 GPUs, 16 on the first.
  EXPECT_LT(planned_gib(config, star, 8), double(Runner::planned_bytes_per_rank(config, star, DType::BF16, 8192, 8,
                                                                               HostSplit::Layers)) / kGiB + 1.0);
}

std::string refusal(const ModelConfig& config, const RunSpec& spec, int gpus, int max_gpus) {
  return memory_plan_problem(config, spec, size_t(79.1 * kGiB), DType::BF16, "an A100 80GB", 8192, gpus, max_gpus);
}

TEST(HostMemoryPlan, RefusalsGiveAdviceThatCanWork) {
  const ModelConfig config = preset_config("llama3.1-70b");
  // The weights alone do not fit: more GPUs per host, never more ranks.
  const std::string weights = refusal(config, spec_of("ring", 16384, 4), 1, 8);
  EXPECT_NE(weights.find("--gpus-per-host 2 or more"), std::string::npos) << weights;
  EXPECT_EQ(weights.find("more ranks"), std::string::npos) << weights;
  // ... nor can they on a machine of one GPU per node.
  const std::string none = refusal(config, spec_of("ring", 16384, 4), 1, 1);
  EXPECT_NE(none.find("no layout of this machine fits"), std::string::npos) << none;
  // With 2 GPUs per host ring at 16K fits; global at 64K on one host does not, and more hosts cannot help it.
  EXPECT_EQ(refusal(config, spec_of("ring", 16384, 4), 2, 8), "");
  const std::string global = refusal(config, spec_of("global", 65536, 1), 2, 8);
  EXPECT_NE(global.find("more --gpus-per-host"), std::string::npos) << global;
  EXPECT_EQ(global.find("more ranks"), std::string::npos) << global;
}

}  // namespace
}  // namespace sb
