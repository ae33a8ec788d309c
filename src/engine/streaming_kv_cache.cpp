#include "engine/streaming_kv_cache.h"

#include <algorithm>

#include "util/error.h"

namespace sb {

StreamingKvCache::StreamingKvCache(Backend& backend, std::vector<HeadSelection> heads_per_layer, int64_t head_dim,
                                   int64_t sink, int64_t recent)
    : backend_(&backend), sink_(sink), recent_(recent) {
  SB_REQUIRE(sink >= 0 && recent >= 1, "streaming KV cache: sink {} must be >= 0 and recent {} >= 1", sink, recent);
  layers_.reserve(heads_per_layer.size());
  for (HeadSelection& heads : heads_per_layer) {
    const std::vector<int64_t> shape = {sink + recent, heads.size(), head_dim};
    Layer layer;
    layer.k = backend.empty(backend.act_dtype(), shape);
    layer.v = backend.empty(backend.act_dtype(), shape);
    layer.heads = std::move(heads);
    layers_.push_back(std::move(layer));
  }
}

size_t StreamingKvCache::bytes() const {
  size_t total = 0;
  for (const Layer& layer : layers_) total += layer.k.nbytes() + layer.v.nbytes();
  return total;
}

void StreamingKvCache::keep(Layer& layer, const Tensor& source_k, const Tensor& source_v) {
  // source rows: [the layer's sink rows; its window; new rows], consecutive
  // positions after the sink (and from 0 while the sink is not full).
  const int64_t rows = source_k.dim(0);
  const int64_t sink_rows = layer.sink_rows < sink_ ? std::min(sink_, rows) : layer.sink_rows;
  if (sink_rows > layer.sink_rows) {
    backend_->copy_rows(layer.k, layer.sink_rows, source_k, layer.sink_rows, sink_rows - layer.sink_rows);
    backend_->copy_rows(layer.v, layer.sink_rows, source_v, layer.sink_rows, sink_rows - layer.sink_rows);
  }
  const int64_t first = std::max(sink_rows, rows - recent_);
  backend_->copy_rows(layer.k, sink_rows, source_k, first, rows - first);
  backend_->copy_rows(layer.v, sink_rows, source_v, first, rows - first);
  layer.sink_rows = sink_rows;
  layer.window_rows = rows - first;
}

StreamingKvCache::Keys StreamingKvCache::extend(int layer_index, const Tensor& k_new, const Tensor& v_new) {
  Layer& layer = layers_.at(size_t(layer_index));
  SB_REQUIRE(k_new.rank() == 3 && k_new.dim(1) == layer.heads.size() && v_new.shape() == k_new.shape(),
             "streaming KV cache of layer {}: new keys {} / values {} do not hold its {} heads", layer_index,
             k_new.describe(), v_new.describe(), layer.heads.size());
  const int64_t cached = layer.sink_rows + layer.window_rows, tokens = k_new.dim(0);
  Keys keys;
  if (cached == 0) {
    keys.k = k_new;
    keys.v = v_new;
  } else {
    // A copy of the at most sink + recent cached rows, then the new ones: the
    // cache's storage is overwritten below while these are still to be read.
    keys.k = backend_->empty(k_new.dtype(), {cached + tokens, k_new.dim(1), k_new.dim(2)});
    keys.v = backend_->empty(v_new.dtype(), keys.k.shape());
    backend_->copy_rows(keys.k, 0, layer.k, 0, cached);
    backend_->copy_rows(keys.v, 0, layer.v, 0, cached);
    backend_->copy_rows(keys.k, cached, k_new, 0, tokens);
    backend_->copy_rows(keys.v, cached, v_new, 0, tokens);
  }
  // Rows below `sink` are positions below it (the sink is filled first), and
  // the rows after the sink are consecutive positions up to the new tokens, so
  // the rule on positions is the streaming mask on rows with offset `cached`.
  keys.mask = AttentionMask::streaming(cached, sink_, recent_);
  keep(layer, keys.k, keys.v);
  layer.next_position += tokens;
  return keys;
}

void StreamingKvCache::take(int layer_index, const Tensor& k_full, const Tensor& v_full, int64_t row, int64_t count,
                            int64_t position) {
  Layer& layer = layers_.at(size_t(layer_index));
  const int64_t end = position + count;
  // Sink positions not held yet.
  const int64_t sink_from = std::max(position, layer.sink_rows), sink_to = std::min(end, sink_);
  if (sink_from < sink_to) {
    SB_REQUIRE(sink_from == layer.sink_rows, "streaming KV cache of layer {}: sink position {} given before {}",
               layer_index, sink_from, layer.sink_rows);
    layer.heads.gather(*backend_, layer.k, sink_from, k_full, row + sink_from - position, sink_to - sink_from);
    layer.heads.gather(*backend_, layer.v, sink_from, v_full, row + sink_from - position, sink_to - sink_from);
    layer.sink_rows = sink_to;
  }
  // Window positions: the last `recent` of the old window and these.
  const int64_t first = std::max(position, sink_);
  if (first < end) {
    SB_REQUIRE(layer.sink_rows == sink_, "streaming KV cache of layer {}: window position {} before the sink is full",
               layer_index, first);
    SB_REQUIRE(layer.window_rows == 0 || first == layer.next_position,
               "streaming KV cache of layer {}: window positions must be consecutive (got {} after {})", layer_index,
               first, layer.next_position);
    const int64_t incoming = std::min(end - first, recent_);
    const int64_t kept = std::min(layer.window_rows, recent_ - incoming);
    // Through a scratch buffer: the kept rows move down inside the window.
    const std::vector<int64_t> shape = {kept + incoming, layer.heads.size(), k_full.dim(2)};
    Tensor k = backend_->empty(k_full.dtype(), shape), v = backend_->empty(v_full.dtype(), shape);
    backend_->copy_rows(k, 0, layer.k, sink_ + layer.window_rows - kept, kept);
    backend_->copy_rows(v, 0, layer.v, sink_ + layer.window_rows - kept, kept);
    layer.heads.gather(*backend_, k, kept, k_full, row + (end - incoming) - position, incoming);
    layer.heads.gather(*backend_, v, kept, v_full, row + (end - incoming) - position, incoming);
    backend_->copy_rows(layer.k, sink_, k, 0, kept + incoming);
    backend_->copy_rows(layer.v, sink_, v, 0, kept + incoming);
    layer.window_rows = kept + incoming;
  }
  layer.next_position = std::max(layer.next_position, end);
}

}  // namespace sb
