#include "attention/duo_shard.h"

#include "util/error.h"

namespace sb {

std::shared_ptr<const DuoPattern> shard_duo_pattern(std::shared_ptr<const DuoPattern> pattern,
                                                    const TensorShard& shard) {
  if (!pattern || shard.whole()) return pattern;
  SB_REQUIRE(shard.kv_head_begin + shard.kv_heads <= pattern->num_kv_heads,
             "duo pattern {} has {} KV heads; GPU {} of its host holds KV heads [{}, {})", pattern->source,
             pattern->num_kv_heads, shard.index, shard.kv_head_begin, shard.kv_head_begin + shard.kv_heads);
  auto local = std::make_shared<DuoPattern>(*pattern);
  local->num_kv_heads = shard.kv_heads;
  local->alphas.clear();
  local->retrieval.clear();
  for (int64_t layer = 0; layer < pattern->num_layers; ++layer) {
    for (int64_t head = shard.kv_head_begin; head < shard.kv_head_begin + shard.kv_heads; ++head) {
      const size_t at = size_t(layer * pattern->num_kv_heads + head);
      local->alphas.push_back(pattern->alphas.at(at));
      local->retrieval.push_back(pattern->retrieval.at(at));
    }
  }
  return local;
}

}  // namespace sb
