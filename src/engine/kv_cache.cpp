#include "engine/kv_cache.h"

#include "util/error.h"

namespace sb {

KvCache::KvCache(Backend& backend, int64_t num_layers, int64_t capacity_tokens, int64_t kv_heads, int64_t head_dim)
    : backend_(&backend), lengths_(size_t(num_layers), 0), capacity_(capacity_tokens) {
  layers_.reserve(size_t(num_layers));
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    layers_.push_back({backend.empty(backend.act_dtype(), {capacity_tokens, kv_heads, head_dim}),
                       backend.empty(backend.act_dtype(), {capacity_tokens, kv_heads, head_dim})});
  }
}

void KvCache::append(int layer, const Tensor& k, const Tensor& v, int64_t begin, int64_t end) {
  int64_t count = end - begin;
  int64_t& length = lengths_.at(layer);
  SB_REQUIRE(length + count <= capacity_, "KV cache of layer {} overflows: {} + {} rows > capacity {}", layer,
             length, count, capacity_);
  if (count == 0) return;
  backend_->copy_rows(layers_[layer].k, length, k, begin, count);
  backend_->copy_rows(layers_[layer].v, length, v, begin, count);
  length += count;
}

size_t KvCache::bytes_needed(int64_t num_layers, int64_t capacity_tokens, int64_t kv_heads, int64_t head_dim,
                             DType dtype) {
  return size_t(2 * num_layers * capacity_tokens * kv_heads * head_dim) * dtype_size(dtype);
}

}  // namespace sb
