#include "engine/kv_cache.h"

#include "util/error.h"

namespace sb {

KvCache::KvCache(Backend& backend, int64_t num_layers, int64_t capacity_tokens, int64_t kv_heads, int64_t head_dim)
    : backend_(&backend), lengths_(size_t(num_layers), 0), capacity_(capacity_tokens) {
  layers_.reserve(size_t(num_layers));
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    layers_.push_back({backend.empty(backend.act_dtype(), {capacity_tokens, kv_heads, head_dim}),
                       backend.empty(backend.act_dtype(), {capacity_tokens, kv_heads, head_dim}), HeadSelection()});
  }
}

KvCache::KvCache(Backend& backend, int64_t capacity_tokens, std::vector<HeadSelection> heads_per_layer,
                 int64_t head_dim)
    : backend_(&backend), lengths_(heads_per_layer.size(), 0), capacity_(capacity_tokens) {
  layers_.reserve(heads_per_layer.size());
  for (HeadSelection& heads : heads_per_layer) {
    const int64_t kept = heads.size();
    layers_.push_back({backend.empty(backend.act_dtype(), {capacity_tokens, kept, head_dim}),
                       backend.empty(backend.act_dtype(), {capacity_tokens, kept, head_dim}), std::move(heads)});
  }
}

void KvCache::append(int layer, const Tensor& k, const Tensor& v, int64_t begin, int64_t end) {
  int64_t count = end - begin;
  int64_t& length = lengths_.at(layer);
  SB_REQUIRE(length + count <= capacity_, "KV cache of layer {} overflows: {} + {} rows > capacity {}", layer,
             length, count, capacity_);
  if (count == 0) return;
  Layer& storage = layers_[layer];
  if (storage.heads.total() == 0) {  // every head
    backend_->copy_rows(storage.k, length, k, begin, count);
    backend_->copy_rows(storage.v, length, v, begin, count);
  } else {
    storage.heads.gather(*backend_, storage.k, length, k, begin, count);
    storage.heads.gather(*backend_, storage.v, length, v, begin, count);
  }
  length += count;
}

void KvCache::append_at(int layer, const Tensor& k, const Tensor& v, const Tensor& positions,
                        int64_t first_position) {
  const int64_t count = k.dim(0);
  int64_t& length = lengths_.at(layer);
  SB_REQUIRE(length + count <= capacity_, "KV cache of layer {} overflows: {} + {} rows > capacity {}", layer,
             length, count, capacity_);
  Layer& storage = layers_[layer];
  if (storage.heads.total() != 0 && storage.heads.empty()) {  // a layer that keeps no head
    length += count;
    return;
  }
  const RowSlots slots{positions, first_position, 0, 0};
  if (storage.heads.total() == 0) {  // every head
    backend_->write_rows_at(storage.k, k, slots);
    backend_->write_rows_at(storage.v, v, slots);
  } else {
    std::vector<int64_t> packed(size_t(storage.heads.size()));
    for (size_t i = 0; i < packed.size(); ++i) packed[i] = int64_t(i);
    backend_->write_rows_at(storage.k, k, slots, packed, storage.heads.heads());
    backend_->write_rows_at(storage.v, v, slots, packed, storage.heads.heads());
  }
  length += count;
}

size_t KvCache::bytes() const {
  size_t total = 0;
  for (const Layer& layer : layers_) total += layer.k.nbytes() + layer.v.nbytes();
  return total;
}

size_t KvCache::bytes_needed(int64_t num_layers, int64_t capacity_tokens, int64_t kv_heads, int64_t head_dim,
                             DType dtype) {
  return size_t(2 * num_layers * capacity_tokens * kv_heads * head_dim) * dtype_size(dtype);
}

}  // namespace sb
