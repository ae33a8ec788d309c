#pragma once
// The full set of a Llama model's weights as WeightSpecs (HF names and layouts),
// from a checkpoint (mmapped views, every tensor checked up front) or seeded
// synthetic values for benchmarks without real weights.
#include <cstdint>
#include <memory>
#include <vector>

#include "model/config.h"
#include "model/weight_spec.h"

namespace sb {

class Checkpoint;

struct LayerWeightSpecs {
  WeightSpec attn_norm, q_proj, k_proj, v_proj, o_proj, mlp_norm, gate_proj, up_proj, down_proj;
};

struct ModelWeightSpecs {
  WeightSpec embed, final_norm, lm_head;  // lm_head is a copy of embed when the config ties them
  std::vector<LayerWeightSpecs> layers;
  std::shared_ptr<const void> keep_alive;  // the Checkpoint whose maps the specs point into, if any
};

// Throws sb::Error naming the file and tensor for any missing tensor or wrong shape.
ModelWeightSpecs checkpoint_weight_specs(std::shared_ptr<Checkpoint> checkpoint);
ModelWeightSpecs synthetic_weight_specs(const ModelConfig& config, uint64_t seed);

// Expected HF shape of every tensor of a config, by name, in model order
// (embed, layers, final norm, then lm_head unless tied).
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_weight_shapes(const ModelConfig& config);

}  // namespace sb
