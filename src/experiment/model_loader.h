#pragma once
// Builds the model every command runs: a user's HF checkpoint directory
// (mmapped safetensors) or a preset with seeded synthetic weights.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/duo_pattern.h"
#include "attention/method_settings.h"
#include "backend/backend.h"
#include "engine/transformer.h"
#include "model/config.h"

namespace sb {

struct ModelChoice {
  std::string model_dir;        // non-empty: load this checkpoint
  std::string preset = "tiny";  // otherwise: this preset, synthetic weights
  uint64_t weight_seed = 0;
};

// Collective: every rank resolves the config; any rank's failure (missing
// directory, truncated shard, bad config) ends all ranks with its message.
ModelConfig resolve_model_config(const ModelChoice& choice);
// Collective, like resolve_model_config; uploads the weights to the backend
// (a tensor split's shard only: experiment/host_setup.h).
std::unique_ptr<Transformer> load_model(const ModelChoice& choice, const ModelConfig& config, Backend& backend,
                                        HostShard host_shard = {});
// Collective, before the model is loaded: the DuoAttention pattern of
// --duo-pattern checked against the model (null when none is given); refuses
// duo without a pattern, and a pattern no method of `methods` uses (duo and
// star do). Rank 0 prints what it resolved to.
std::shared_ptr<const DuoPattern> resolve_duo_pattern(const DuoOptions& options, const ModelConfig& config,
                                                      const std::vector<Method>& methods);
// Collective, once the backend exists: the compressor of --apb-compressor
// checked against the model and uploaded (null when none is given); refuses
// apb without one, and one that no method of `methods` uses. Rank 0 prints it.
std::shared_ptr<const ApbCompressor> resolve_apb_compressor(const ApbCompressorSource& source,
                                                            const ModelConfig& config, Backend& backend,
                                                            const std::vector<Method>& methods);
// Collective: creates the backend on every rank (bound to the local rank's GPU).
std::unique_ptr<Backend> create_backend(const std::string& name);

}  // namespace sb
