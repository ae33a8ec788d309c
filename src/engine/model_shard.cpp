#include "engine/model_shard.h"

#include <algorithm>

#include "util/error.h"

namespace sb {

ModelShard make_tensor_shard(const ModelConfig& config, int index, int count) {
  SB_REQUIRE(count >= 1 && 0 <= index && index < count, "tensor shard {} of {} GPUs", index, count);
  const int64_t hq = config.num_heads, hkv = config.num_kv_heads, ffn = config.intermediate_size;
  SB_REQUIRE(hq % count == 0,
             "--gpus-per-host {}: {} has {} query heads, which do not split over {} GPUs (the tensor split needs a "
             "divisor of {})",
             count, config.name, hq, count, hq);
  SB_REQUIRE(hkv % count == 0 || count % hkv == 0,
             "--gpus-per-host {}: {} has {} KV heads: the tensor split needs GPUs per host that divide them or "
             "are a multiple of them (each KV head then replicated)",
             count, config.name, hkv);
  SB_REQUIRE(ffn % count == 0, "--gpus-per-host {}: the MLP of {} ({} columns) does not split over {} GPUs", count,
             config.name, ffn, count);
  ModelShard shard;
  shard.index = index;
  shard.count = count;
  shard.q_heads = hq / count;
  shard.q_head_begin = index * shard.q_heads;
  if (hkv >= count) {
    shard.kv_heads = hkv / count;
    shard.kv_head_begin = index * shard.kv_heads;
  } else {
    shard.kv_replication = int(count / hkv);
    shard.kv_heads = 1;
    shard.kv_head_begin = index / shard.kv_replication;
  }
  // Query head h reads KV head h / (hq / hkv): the shard's query heads read its KV heads only.
  const int64_t group = hq / hkv;
  SB_REQUIRE(shard.q_head_begin / group == shard.kv_head_begin &&
                 (shard.q_head_begin + shard.q_heads - 1) / group == shard.kv_head_begin + shard.kv_heads - 1,
             "tensor shard {} of {}: query heads [{}, {}) do not read KV heads [{}, {})", index, count,
             shard.q_head_begin, shard.q_head_begin + shard.q_heads, shard.kv_head_begin,
             shard.kv_head_begin + shard.kv_heads);
  shard.ffn_size = ffn / count;
  shard.ffn_begin = index * shard.ffn_size;
  shard.layers = config.num_layers;
  return shard;
}

ModelShard make_layer_shard(const ModelConfig& config, int index, int count) {
  SB_REQUIRE(count >= 1 && 0 <= index && index < count, "layer shard {} of {} GPUs", index, count);
  SB_REQUIRE(config.num_layers >= count, "--gpus-per-host {} --host-split layers: {} has only {} layers", count,
             config.name, config.num_layers);
  ModelShard shard;
  shard.index = index;
  shard.count = count;
  shard.by_layers = true;
  shard.q_heads = config.num_heads;
  shard.kv_heads = config.num_kv_heads;
  shard.ffn_size = config.intermediate_size;
  const int64_t base = config.num_layers / count, extra = config.num_layers % count;
  shard.layers = base + (index < extra ? 1 : 0);
  shard.layer_begin = index * base + std::min<int64_t>(index, extra);
  return shard;
}

ModelShard make_model_shard(const ModelConfig& config, HostSplit split, int index, int count) {
  return split == HostSplit::Layers ? make_layer_shard(config, index, count) : make_tensor_shard(config, index, count);
}

ModelConfig shard_config(const ModelConfig& config, const ModelShard& shard) {
  if (shard.whole()) return config;
  ModelConfig local = config;
  local.num_heads = shard.q_heads;
  local.num_kv_heads = shard.kv_heads;
  local.intermediate_size = shard.ffn_size;
  local.num_layers = shard.layers;
  return local;  // head_dim is explicit, so hidden_size stays the model's
}

ModelWeightSpecs shard_weight_specs(const ModelWeightSpecs& weights, const ModelConfig& config,
                                    const ModelShard& shard) {
  if (shard.whole()) return weights;
  if (shard.layer_split()) {
    ModelWeightSpecs local = weights;
    local.layers.assign(weights.layers.begin() + shard.layer_begin,
                        weights.layers.begin() + shard.layer_begin + shard.layers);
    return local;
  }
  const int64_t d = config.head_dim;
  const int64_t q_begin = shard.q_head_begin * d, q_end = q_begin + shard.q_heads * d;
  const int64_t kv_begin = shard.kv_head_begin * d, kv_end = kv_begin + shard.kv_heads * d;
  const int64_t f_begin = shard.ffn_begin, f_end = f_begin + shard.ffn_size;
  ModelWeightSpecs local = weights;
  for (LayerWeightSpecs& layer : local.layers) {
    layer.q_proj = slice_rows(layer.q_proj, q_begin, q_end);
    layer.k_proj = slice_rows(layer.k_proj, kv_begin, kv_end);
    layer.v_proj = slice_rows(layer.v_proj, kv_begin, kv_end);
    layer.o_proj = slice_columns(layer.o_proj, q_begin, q_end);
    layer.gate_proj = slice_rows(layer.gate_proj, f_begin, f_end);
    layer.up_proj = slice_rows(layer.up_proj, f_begin, f_end);
    layer.down_proj = slice_columns(layer.down_proj, f_begin, f_end);
  }
  return local;
}

}  // namespace sb
