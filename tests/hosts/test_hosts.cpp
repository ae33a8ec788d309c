// Hosts of several GPUs under mpiexec with 4 and 8 ranks, both splits: every
// method on hosts x G ranks gives the logits and greedy tokens of the same
// settings on one-GPU hosts (the same number of hosts, each holding the whole
// model), and the HF float64 references of the tiny checkpoint; the bytes
// between hosts are 1/G of the one-GPU hosts' (tensor split: on every GPU;
// layer split: over the host); a rank count that is not a multiple of G is
// refused.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attention/method.h"
#include "attention/method_factory.h"
#include "backend/backend_factory.h"
#include "comm/comm_factory.h"
#include "comm/comm.h"
#include "comm/host_layout.h"
#include "engine/model_shard.h"
#include "experiment/forward_pass.h"
#include "model/checkpoint.h"
#include "model/weights.h"
#include "tests/reference/reference_data.h"
#include "tests/support/tiny_model.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

using testing::relative_error;

// One job's hosts of G GPUs: this rank's communicators, the whole model (what
// a one-GPU host runs) and this rank's shard of it.
struct Hosts {
  Hosts(const ModelConfig& config, const ModelWeightSpecs& weights, Backend& backend, int gpus_per_host,
        HostSplit split)
      : layout(make_host_layout(Control::size(), {gpus_per_host, split})),
        comms(make_host_comms(backend, layout, Control::rank())),
        local(make_local_comm(backend)) {
    whole = std::make_unique<Transformer>(config, backend, weights);
    HostShard host_shard;
    host_shard.shard = make_model_shard(config, split, layout.index_in_host(Control::rank()), gpus_per_host);
    host_shard.host = comms.within.get();
    this->split = std::make_unique<Transformer>(config, backend, weights, 8192, host_shard);
  }
  HostLayout layout;
  HostComms comms;
  std::unique_ptr<Comm> local;
  std::unique_ptr<Transformer> whole, split;
};

struct Outcome {
  ForwardOutputs outputs;
  uint64_t bytes_between_hosts = 0;  // this rank's
};

Outcome run(const MethodSettings& settings, Transformer& model, Comm& between, const std::vector<int32_t>& context,
            const std::vector<int32_t>& query, int64_t generate) {
  auto method = make_method(settings, model, between, int64_t(context.size()), int64_t(query.size()) + generate);
  between.reset_bytes_sent();
  Outcome outcome;
  outcome.outputs = run_forward_pass(*method, model, context, query, generate);
  outcome.bytes_between_hosts = between.bytes_sent();
  return outcome;
}

// The settings every comparison covers: global, ring (both layouts), star
// (every anchor mode), duo and star + duo (retrieval heads {1, 0} / {0, 1}).
struct Case {
  std::string label;
  MethodSettings settings;
};

std::shared_ptr<const DuoPattern> mixed_pattern(const ModelConfig& config) {
  std::vector<std::vector<int>> kinds(size_t(config.num_layers), std::vector<int>(size_t(config.num_kv_heads)));
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    for (int64_t head = 0; head < config.num_kv_heads; ++head) kinds[size_t(layer)][size_t(head)] = (layer + head) % 2;
  return testing::duo_test_pattern(kinds, /*sink=*/4, /*recent=*/8);
}

std::vector<Case> cases(const ModelConfig& config, int64_t block) {
  std::vector<Case> all;
  all.push_back({"global", MethodSettings{Method::Global}});
  for (const char* layout : {"zigzag", "contiguous"}) {
    MethodSettings ring{Method::Ring};
    ring.ring_layout = parse_setting<RingLayoutKind>(layout);
    all.push_back({std::string("ring ") + layout, ring});
  }
  for (const char* mode : {"recompute", "once", "sent"}) {
    MethodSettings star{Method::Star, {block}, block};
    star.anchor_mode = parse_setting<AnchorMode>(mode);
    all.push_back({std::string("star ") + mode, star});
  }
  MethodSettings duo{Method::Duo};
  duo.duo = mixed_pattern(config);
  all.push_back({"duo", duo});
  for (const char* mode : {"recompute", "once"}) {
    MethodSettings star_duo{Method::Star, {block}, block};
    star_duo.anchor_mode = parse_setting<AnchorMode>(mode);
    star_duo.duo = mixed_pattern(config);
    all.push_back({std::string("star+duo ") + mode, star_duo});
  }
  return all;
}

bool on_one_host(const MethodSettings& settings) { return runs_on_one_rank(settings.method); }

// Every case on hosts of G GPUs against one-GPU hosts; returns how many ran.
int compare_with_one_gpu_hosts(const ModelConfig& config, const ModelWeightSpecs& weights, int gpus_per_host,
                               HostSplit split, bool bytes_divide_exactly) {
  auto backend = make_backend("cpu", 0);
  Hosts hosts(config, weights, *backend, gpus_per_host, split);
  const int64_t context_len = 80, block = 80 / (2 * hosts.layout.hosts);
  const std::vector<int32_t> context = testing::random_tokens(5, context_len, config.vocab_size);
  const std::vector<int32_t> query = testing::random_tokens(6, 6, config.vocab_size);
  int compared = 0;
  for (const Case& test : cases(config, block)) {
    // One-GPU hosts: the ranks of this index in every host, each with the whole model.
    Comm& between = on_one_host(test.settings) ? *hosts.local : *hosts.comms.between;
    const Outcome whole = run(test.settings, *hosts.whole, between, context, query, 4);
    const Outcome shared = run(test.settings, *hosts.split, between, context, query, 4);
    const std::string where = test.label + " on " + hosts.layout.describe();
    EXPECT_LT(relative_error(whole.outputs.logits, shared.outputs.logits), 2e-5) << where;
    EXPECT_LT(relative_error(whole.outputs.hidden, shared.outputs.hidden), 2e-5) << where;
    EXPECT_EQ(whole.outputs.generated, shared.outputs.generated) << where;
    if (!on_one_host(test.settings)) {
      EXPECT_GT(whole.bytes_between_hosts, 0u) << where;
      // Every index of every host ran the one-GPU hosts' run at once: the world's total is G of them.
      const double whole_total = Control::sum(double(whole.bytes_between_hosts));
      const double split_total = Control::sum(double(shared.bytes_between_hosts));
      if (split == HostSplit::Layers) {
        // A GPU exchanges its layers' share; the host's GPUs together what one GPU did.
        EXPECT_EQ(split_total * gpus_per_host, whole_total) << where;
      } else if (bytes_divide_exactly) {
        EXPECT_EQ(shared.bytes_between_hosts * uint64_t(gpus_per_host), whole.bytes_between_hosts) << where;
      } else {
        EXPECT_LT(split_total, whole_total) << where;
      }
    }
    ++compared;
  }
  return compared;
}

// The tiny preset: 4 query / 2 KV heads, so 2 GPUs per host split the KV heads
// and 4 replicate each KV head on 2 GPUs.
TEST(Hosts, BothSplitsEqualOneGpuHostsTiny) {
  const ModelConfig config = preset_config("tiny");
  const ModelWeightSpecs weights = synthetic_weight_specs(config, 7);
  int layouts = 0;
  for (int gpus : {2, 4}) {
    if (Control::size() % gpus != 0 || Control::size() / gpus < 2) continue;
    EXPECT_EQ(compare_with_one_gpu_hosts(config, weights, gpus, HostSplit::Tensor,
                                         /*bytes_divide_exactly=*/gpus <= 2),
              9);
    if (gpus <= config.num_layers) {
      EXPECT_EQ(compare_with_one_gpu_hosts(config, weights, gpus, HostSplit::Layers, true), 9);
    }
    ++layouts;
  }
  EXPECT_GE(layouts, Control::size() >= 8 ? 2 : 1);
}

// A tiny shape with 8 query / 4 KV heads and 4 layers: 4 GPUs per host hold one
// KV head (tensor) or one layer (layers) each and the bytes between hosts are
// exactly a quarter.
TEST(Hosts, BothSplitsEqualOneGpuHostsFourKvHeadsFourLayers) {
  ModelConfig config = preset_config("tiny");
  config.name = "tiny-8q4kv-4l";
  config.num_heads = 8;
  config.num_kv_heads = 4;
  config.head_dim = 16;
  config.num_layers = 4;
  const ModelWeightSpecs weights = synthetic_weight_specs(config, 9);
  int layouts = 0;
  for (int gpus : {2, 4}) {
    if (Control::size() % gpus != 0 || Control::size() / gpus < 2) continue;
    for (HostSplit split : {HostSplit::Tensor, HostSplit::Layers}) {
      EXPECT_EQ(compare_with_one_gpu_hosts(config, weights, gpus, split, /*bytes_divide_exactly=*/true), 9);
    }
    ++layouts;
  }
  EXPECT_GE(layouts, 1);
}

// The HF float64 references of the tiny checkpoint (tests/reference/data).
TEST(Hosts, SplitHostsMatchHfReferences) {
  auto checkpoint = Checkpoint::open(testing::reference_checkpoint());
  const ModelConfig& config = checkpoint->config();
  const ModelWeightSpecs weights = checkpoint_weight_specs(checkpoint);
  auto backend = make_backend("cpu", 0);
  int layouts = 0;
  for (auto [gpus, split] : {std::pair{2, HostSplit::Tensor}, std::pair{4, HostSplit::Tensor},
                             std::pair{2, HostSplit::Layers}}) {
    if (Control::size() % gpus != 0) continue;
    Hosts hosts(config, weights, *backend, gpus, split);
    const std::string where = " on " + hosts.layout.describe();
    auto split_run = [&](const MethodSettings& settings, const testing::ReferenceCase& reference) {
      const int64_t context_len = reference.context_len;
      std::vector<int32_t> context(reference.tokens.begin(), reference.tokens.begin() + context_len);
      std::vector<int32_t> query(reference.tokens.begin() + context_len, reference.tokens.end());
      Comm& between = on_one_host(settings) ? *hosts.local : *hosts.comms.between;
      return run(settings, *hosts.split, between, context, query, int64_t(reference.generated.size())).outputs;
    };
    const testing::ReferenceCase global = testing::load_reference("global_reference.safetensors", "query_logits");
    for (const char* method : {"global", "ring"}) {
      for (const char* layout : {"zigzag", "contiguous"}) {
        MethodSettings settings{parse_setting<Method>(method)};
        settings.ring_layout = parse_setting<RingLayoutKind>(layout);
        const ForwardOutputs outputs = split_run(settings, global);
        EXPECT_LT(testing::max_abs_difference(outputs.logits, global.logits), 2e-3) << method << " " << layout << where;
        EXPECT_EQ(outputs.generated, global.generated) << method << " " << layout << where;
      }
    }
    int star_cases = 0;
    for (const char* file : {"star_C80_B20_A20.safetensors", "star_C80_B40_A40.safetensors",
                             "star_C80_B10_A10.safetensors"}) {
      const testing::ReferenceCase reference = testing::load_reference(file);
      const int64_t blocks = (reference.context_len + reference.block_size - 1) / reference.block_size;
      if (blocks < hosts.layout.hosts) continue;
      for (const char* mode : {"recompute", "once", "sent"}) {
        MethodSettings settings{Method::Star, {reference.block_size}, reference.anchor_size};
        settings.anchor_mode = parse_setting<AnchorMode>(mode);
        const ForwardOutputs outputs = split_run(settings, reference);
        EXPECT_LT(testing::max_abs_difference(outputs.logits, reference.logits), 2e-3) << file << " " << mode << where;
        EXPECT_EQ(outputs.generated, reference.generated) << file << " " << mode << where;
      }
      ++star_cases;
    }
    EXPECT_GE(star_cases, 2) << where;
    for (const char* file : {"star_duo_C80_B20_A20.safetensors", "star_duo_C80_B10_A10.safetensors"}) {
      const testing::ReferenceCase reference = testing::load_reference(file);
      const int64_t blocks = (reference.context_len + reference.block_size - 1) / reference.block_size;
      if (blocks < hosts.layout.hosts) continue;
      MethodSettings settings{Method::Star, {reference.block_size}, reference.anchor_size};
      DuoOptions options;
      options.pattern = reference.duo_pattern;
      settings.duo = std::make_shared<const DuoPattern>(load_duo_pattern(options, config));
      const ForwardOutputs outputs = split_run(settings, reference);
      EXPECT_LT(testing::max_abs_difference(outputs.logits, reference.logits), 2e-3) << file << where;
      EXPECT_EQ(outputs.generated, reference.generated) << file << where;
    }
    ++layouts;
  }
  EXPECT_GE(layouts, 1);
}

TEST(Hosts, RankCountNotAMultipleOfGpusPerHostIsRefused) {
  const int world = Control::size();
  try {
    make_host_layout(world, {world + 1, HostSplit::Tensor});
    FAIL() << "a host of more GPUs than ranks was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("multiple of " + std::to_string(world + 1)), std::string::npos)
        << error.what();
  }
  if (world % 3 != 0) EXPECT_THROW(make_host_layout(world, {3, HostSplit::Tensor}), Error);
}

TEST(Hosts, HostStraddlingNodesIsRefusedWithItsRanks) {
  const HostLayout layout = make_host_layout(4, {2, HostSplit::Tensor});
  EXPECT_EQ(host_node_problem(layout, {"a", "a", "b", "b"}), "");
  const std::string problem = host_node_problem(layout, {"a", "b", "b", "b"});
  EXPECT_NE(problem.find("ranks 0, 1 on nodes a, b"), std::string::npos) << problem;
}

TEST(Hosts, KvHeadsReplicatedWhenFewerThanGpus) {
  const ModelConfig config = preset_config("tiny");  // 4 query / 2 KV heads
  for (int index = 0; index < 4; ++index) {
    const ModelShard shard = make_tensor_shard(config, index, 4);
    EXPECT_EQ(shard.q_heads, 1);
    EXPECT_EQ(shard.kv_heads, 1);
    EXPECT_EQ(shard.kv_head_begin, index / 2);
    EXPECT_EQ(shard.kv_replication, 2);
  }
  EXPECT_THROW(make_tensor_shard(config, 0, 3), Error);  // 4 query heads over 3 GPUs
  EXPECT_THROW(make_tensor_shard(config, 0, 8), Error);  // more GPUs than query heads
}

}  // namespace
}  // namespace sb
