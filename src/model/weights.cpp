#include "model/weights.h"

#include <cmath>
#include <functional>

#include "model/checkpoint.h"
#include "util/error.h"

namespace sb {

namespace {

std::string layer_prefix(int64_t layer) { return "model.layers." + std::to_string(layer) + "."; }

// One builder for both sources, so checkpoint and synthetic models cannot
// disagree on names or shapes.
ModelWeightSpecs build_specs(const ModelConfig& c,
                             const std::function<WeightSpec(const std::string&, std::vector<int64_t>)>& make) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  ModelWeightSpecs specs;
  specs.embed = make("model.embed_tokens.weight", {V, H});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = layer_prefix(l);
    LayerWeightSpecs layer;
    layer.attn_norm = make(p + "input_layernorm.weight", {H});
    layer.q_proj = make(p + "self_attn.q_proj.weight", {q, H});
    layer.k_proj = make(p + "self_attn.k_proj.weight", {kv, H});
    layer.v_proj = make(p + "self_attn.v_proj.weight", {kv, H});
    layer.o_proj = make(p + "self_attn.o_proj.weight", {H, q});
    layer.mlp_norm = make(p + "post_attention_layernorm.weight", {H});
    layer.gate_proj = make(p + "mlp.gate_proj.weight", {I, H});
    layer.up_proj = make(p + "mlp.up_proj.weight", {I, H});
    layer.down_proj = make(p + "mlp.down_proj.weight", {H, I});
    specs.layers.push_back(std::move(layer));
  }
  specs.final_norm = make("model.norm.weight", {H});
  specs.lm_head = c.tie_word_embeddings ? specs.embed : make("lm_head.weight", {V, H});
  return specs;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> expected_weight_shapes(const ModelConfig& config) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  build_specs(config, [&](const std::string& name, std::vector<int64_t> shape) {
    shapes.emplace_back(name, shape);
    WeightSpec spec;
    spec.name = name;
    return spec;
  });
  return shapes;
}

ModelWeightSpecs checkpoint_weight_specs(std::shared_ptr<Checkpoint> checkpoint) {
  SB_REQUIRE(checkpoint != nullptr, "checkpoint_weight_specs: no checkpoint");
  ModelWeightSpecs specs = build_specs(checkpoint->config(), [&](const std::string& name, std::vector<int64_t> shape) {
    return checkpoint->weight(name, std::move(shape));
  });
  specs.keep_alive = checkpoint;
  return specs;
}

ModelWeightSpecs synthetic_weight_specs(const ModelConfig& config, uint64_t seed) {
  validate_config(config);
  // Scales keep activations O(1) through any depth. synthetic_value is uniform in
  // [-1, 1) (variance 1/3), so sqrt(3 / fan_in) gives each output of a linear map
  // of unit-RMS inputs (every linear input here follows an RMSNorm, or is a SwiGLU
  // or attention output of order 1) a variance of about 1: q.k/sqrt(d) then has
  // std ~1, so attention is neither uniform nor one-hot. The two projections that
  // write into the residual stream (o_proj, down_proj) get half that, so the
  // stream grows like sqrt(1 + layers/2) rather than doubling per layer; RMSNorm
  // re-normalises every branch input anyway. Norm weights are 1 +- 0.1 so that a
  // wrong norm-weight index changes results; the embedding is uniform [-1, 1).
  auto make = [&](const std::string& name, std::vector<int64_t> shape) {
    WeightSpec spec;
    spec.name = name;
    spec.shape = std::move(shape);
    spec.seed = synthetic_seed(seed, name);
    const bool is_norm = spec.shape.size() == 1;
    const bool is_embedding = name == "model.embed_tokens.weight";
    if (is_norm) {
      spec.scale = 0.1f;
      spec.offset = 1.0f;
    } else if (is_embedding) {
      spec.scale = 1.0f;
    } else {
      const double fan_in = double(spec.shape[1]);
      const bool writes_residual = name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight");
      spec.scale = float(std::sqrt(3.0 / fan_in) * (writes_residual ? 0.5 : 1.0));
    }
    return spec;
  };
  return build_specs(config, make);
}

}  // namespace sb
