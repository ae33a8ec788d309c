#include "attention/duo_shard.h"

#include "util/error.h"

namespace sb {

std::shared_ptr<const DuoPattern> shard_duo_pattern(std::shared_ptr<const DuoPattern> pattern,
                                                    const ModelShard& shard) {
  if (!pattern || shard.whole()) return pattern;
  SB_REQUIRE(shard.kv_head_begin + shard.kv_heads <= pattern->num_kv_heads &&
                 shard.layer_begin + shard.layers <= pattern->num_layers,
             "duo pattern {} is {} layers x {} KV heads; GPU {} of its host holds layers [{}, {}) x KV heads [{}, {})",
             pattern->source, pattern->num_layers, pattern->num_kv_heads, shard.index, shard.layer_begin,
             shard.layer_begin + shard.layers, shard.kv_head_begin, shard.kv_head_begin + shard.kv_heads);
  auto local = std::make_shared<DuoPattern>(*pattern);
  local->num_kv_heads = shard.kv_heads;
  local->num_layers = shard.layers;
  local->alphas.clear();
  local->retrieval.clear();
  for (int64_t layer = shard.layer_begin; layer < shard.layer_begin + shard.layers; ++layer) {
    for (int64_t head = shard.kv_head_begin; head < shard.kv_head_begin + shard.kv_heads; ++head) {
      const size_t at = size_t(layer * pattern->num_kv_heads + head);
      local->alphas.push_back(pattern->alphas.at(at));
      local->retrieval.push_back(pattern->retrieval.at(at));
    }
  }
  return local;
}

}  // namespace sb
