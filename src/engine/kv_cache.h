#pragma once
// Per-layer key/value rows kept by one rank, preallocated to a capacity so a
// run's memory is known before it starts.
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "engine/head_selection.h"

namespace sb {

class KvCache {
 public:
  KvCache() = default;
  KvCache(Backend& backend, int64_t num_layers, int64_t capacity_tokens, int64_t kv_heads, int64_t head_dim);
  // Per-kind storage (DuoAttention's retrieval heads): layer l keeps only the
  // KV heads of heads_per_layer[l], packed as [capacity, size, d]; append()
  // takes those heads out of full [T, Hkv, d] rows.
  KvCache(Backend& backend, int64_t capacity_tokens, std::vector<HeadSelection> heads_per_layer, int64_t head_dim);

  int64_t length(int layer) const { return lengths_.at(layer); }
  int64_t capacity() const { return capacity_; }
  bool empty() const { return layers_.empty(); }
  // Appends rows [begin, end) of k and v ([T, Hkv, d], every KV head) to the layer's cache.
  void append(int layer, const Tensor& k, const Tensor& v, int64_t begin, int64_t end);
  // A decoding step's rows, written where positions say (Backend::write_rows_at:
  // row positions[t] - first_position); the host's length advances by T, and
  // the caller promises that the first of them is row length(layer).
  void append_at(int layer, const Tensor& k, const Tensor& v, const Tensor& positions, int64_t first_position);
  // The whole storage [capacity, heads, d]: what a replayed step attends to,
  // its rows past the length hidden by a causal-by-position mask.
  Tensor all_keys(int layer) const { return layers_.at(layer).k; }
  Tensor all_values(int layer) const { return layers_.at(layer).v; }
  Tensor keys(int layer) const { return layers_.at(layer).k.rows(0, lengths_.at(layer)); }
  Tensor values(int layer) const { return layers_.at(layer).v.rows(0, lengths_.at(layer)); }
  // Bytes of the preallocated storage, every layer.
  size_t bytes() const;
  static size_t bytes_needed(int64_t num_layers, int64_t capacity_tokens, int64_t kv_heads, int64_t head_dim,
                             DType dtype);

 private:
  struct Layer {
    Tensor k, v;
    HeadSelection heads;  // the KV heads kept (empty when the cache keeps every head)
  };
  Backend* backend_ = nullptr;
  std::vector<Layer> layers_;
  std::vector<int64_t> lengths_;
  int64_t capacity_ = 0;
};

}  // namespace sb
