#include "experiment/model_loader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <fmt/core.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "attention/apb_compressor.h"
#include "backend/backend_factory.h"
#include "model/checkpoint.h"
#include "model/weights.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {

ModelConfig resolve_model_config(const ModelChoice& choice) {
  return Control::agree_on([&] {
    ModelConfig config;
    if (!choice.model_dir.empty()) {
      SB_REQUIRE(std::filesystem::is_directory(choice.model_dir), "--model {}: no such directory",
                 choice.model_dir);
      config = load_config_json((std::filesystem::path(choice.model_dir) / "config.json").string());
      config.name = checkpoint_model_name(choice.model_dir);  // as Checkpoint::open names it
    } else {
      config = preset_config(choice.preset);
    }
    validate_config(config);
    return config;
  });
}

std::unique_ptr<Transformer> load_model(const ModelChoice& choice, const ModelConfig& config, Backend& backend,
                                        HostShard host_shard) {
  return Control::agree_on([&] {
    if (!choice.model_dir.empty()) {
      std::shared_ptr<Checkpoint> checkpoint = Checkpoint::open(choice.model_dir);
      return std::make_unique<Transformer>(checkpoint->config(), backend, checkpoint_weight_specs(checkpoint), 8192,
                                           host_shard);
    }
    return std::make_unique<Transformer>(config, backend, synthetic_weight_specs(config, choice.weight_seed), 8192,
                                         host_shard);
  });
}

std::shared_ptr<const DuoPattern> resolve_duo_pattern(const DuoOptions& options, const ModelConfig& config,
                                                      const std::vector<Method>& methods) {
  std::shared_ptr<const DuoPattern> pattern;
  Control::agree_on([&] {
    auto uses = [&](Method method) { return std::find(methods.begin(), methods.end(), method) != methods.end(); };
    if (!options.enabled()) {
      SB_REQUIRE(!uses(Method::Duo), "--method duo needs a head pattern: --duo-pattern DIR (full_attention_heads.tsv + "
                               "config.json), FILE.tsv or random:SEED");
      SB_REQUIRE(options.sink < 0 && options.recent < 0 && std::isnan(options.threshold) &&
                     std::isnan(options.sparsity),
                 "--duo-sink, --duo-recent, --duo-threshold and --duo-sparsity need --duo-pattern");
    } else {
      SB_REQUIRE(uses(Method::Duo) || uses(Method::Star),
                 "--duo-pattern is used by --method duo and star (star + duo); none of them is in the methods");
      pattern = std::make_shared<const DuoPattern>(load_duo_pattern(options, config));
    }
  });
  if (pattern && Control::is_root()) fmt::print(stderr, "duo pattern {}\n", pattern->describe());
  return pattern;
}

std::shared_ptr<const ApbCompressor> resolve_apb_compressor(const ApbCompressorSource& source,
                                                            const ModelConfig& config, Backend& backend,
                                                            const std::vector<Method>& methods) {
  const bool used = std::find(methods.begin(), methods.end(), Method::Apb) != methods.end();
  std::shared_ptr<const ApbCompressor> compressor = Control::agree_on([&]() -> std::shared_ptr<const ApbCompressor> {
    SB_REQUIRE(!used || source.given,
               "--method apb needs a compressor: --apb-compressor DIR (DIR/compressor.safetensors, from "
               "jobs/apb/convert_compressor.py) or random:SEED (synthetic weights, for timing)");
    SB_REQUIRE(used || !source.given, "--apb-compressor is used by --method apb, which is not in the methods");
    if (!used) return nullptr;
    return std::make_shared<const ApbCompressor>(source, config, backend);
  });
  if (compressor && Control::is_root()) fmt::print(stderr, "apb compressor {}\n", compressor->describe());
  return compressor;
}

namespace {

// One GPU per rank: a rank takes the GPU of its node-local rank, so more ranks on
// a node than GPUs would put two ranks on one device, which fails late, inside
// NCCL. Every rank of such a node reports it, naming the host, ranks and GPUs.
std::string ranks_per_gpu_problem(const std::vector<int>& node_ranks, int local_rank, int gpus) {
  // No GPU at all: make_backend says so in its own words.
  if (gpus == 0 || (int(node_ranks.size()) <= gpus && local_rank < gpus)) return "";
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const char* fake = std::getenv("STARBENCH_FAKE_GPUS");
  return fmt::format(
      "host {} runs {} rank(s) ({}) but sees {} GPU(s){}: one rank per GPU, so start at most {} rank(s) on this "
      "node (Slurm: --ntasks-per-node={}) or give it more GPUs (--gpus-per-node={})",
      Control::host_name(), node_ranks.size(), fmt::join(node_ranks, ", "), gpus,
      fake ? fmt::format(" (STARBENCH_FAKE_GPUS={})", fake)
           : visible ? fmt::format(" (CUDA_VISIBLE_DEVICES={})", visible) : std::string(),
      gpus, gpus, node_ranks.size());
}

}  // namespace

std::unique_ptr<Backend> create_backend(const std::string& name) {
  const std::vector<int> node_ranks = Control::node_ranks();  // collective: every rank, whatever its backend
  const int local_rank = Control::local_rank();
  Control::agree_on([&] {
    if (name == "cuda" || (name == "auto" && cuda_backend_available())) {
      const std::string problem = ranks_per_gpu_problem(node_ranks, local_rank, visible_gpu_count());
      SB_REQUIRE(problem.empty(), "{}", problem);
    }
  });
  return Control::agree_on([&] { return make_backend(name, local_rank); });
}

}  // namespace sb
