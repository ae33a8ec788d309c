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

void StreamingKvCache::store(Layer& layer, const Tensor& source_k, const Tensor& source_v, int64_t row,
                             int64_t count, int64_t position, bool full) {
  auto put = [&](int64_t dst_row, int64_t src_row, int64_t rows) {
    if (rows <= 0) return;
    if (full) {
      layer.heads.gather(*backend_, layer.k, dst_row, source_k, src_row, rows);
      layer.heads.gather(*backend_, layer.v, dst_row, source_v, src_row, rows);
    } else {
      backend_->copy_rows(layer.k, dst_row, source_k, src_row, rows);
      backend_->copy_rows(layer.v, dst_row, source_v, src_row, rows);
    }
  };
  const int64_t end = position + count;
  // Sink positions not held yet (they come first, in order).
  const int64_t sink_from = std::max(position, layer.sink_rows), sink_to = std::min(end, sink_);
  if (sink_from < sink_to) {
    SB_REQUIRE(sink_from == layer.sink_rows, "streaming KV cache: sink position {} given before {}", sink_from,
               layer.sink_rows);
    put(sink_from, row + sink_from - position, sink_to - sink_from);
    layer.sink_rows = sink_to;
  }
  // Window positions: the last `recent` of the held window and these.
  const int64_t first = std::max(position, sink_);
  if (first < end) {
    SB_REQUIRE(layer.sink_rows == sink_, "streaming KV cache: window position {} before the sink is full", first);
    SB_REQUIRE(layer.window_rows == 0 || first == layer.next_position,
               "streaming KV cache: window positions must follow each other (got {} after {})", first,
               layer.next_position);
    const int64_t kept_from = std::max(first, end - recent_);  // earlier ones would be overwritten at once
    if (layer.base < 0) layer.base = kept_from;
    // The slots of [kept_from, end): one run, or two where the ring wraps.
    for (int64_t p = kept_from; p < end;) {
      const int64_t start = slot(layer, p);
      const int64_t run = std::min(end - p, sink_ + recent_ - start);
      put(start, row + p - position, run);
      p += run;
    }
    layer.window_rows = std::min(recent_, layer.window_rows + (end - first));
  }
  layer.next_position = std::max(layer.next_position, end);
}

void StreamingKvCache::copy_in_order(const Layer& layer, Tensor& dst_k, Tensor& dst_v) {
  backend_->copy_rows(dst_k, 0, layer.k, 0, layer.sink_rows);
  backend_->copy_rows(dst_v, 0, layer.v, 0, layer.sink_rows);
  if (layer.window_rows == 0) return;
  const int64_t first = layer.next_position - layer.window_rows;  // the window's oldest position
  const int64_t start = slot(layer, first);
  const int64_t head_run = std::min(layer.window_rows, sink_ + recent_ - start);
  backend_->copy_rows(dst_k, sink_, layer.k, start, head_run);
  backend_->copy_rows(dst_v, sink_, layer.v, start, head_run);
  backend_->copy_rows(dst_k, sink_ + head_run, layer.k, sink_, layer.window_rows - head_run);
  backend_->copy_rows(dst_v, sink_ + head_run, layer.v, sink_, layer.window_rows - head_run);
}

StreamingKvCache::Keys StreamingKvCache::extend(int layer_index, const Tensor& k, const Tensor& v) {
  Layer& layer = layers_.at(size_t(layer_index));
  SB_REQUIRE(k.rank() == 3 && k.dim(1) == layer.heads.total() && v.shape() == k.shape(),
             "streaming KV cache of layer {}: keys {} / values {} are not [T, {}, d]", layer_index, k.describe(),
             v.describe(), layer.heads.total());
  const int64_t tokens = k.dim(0), held = layer.sink_rows + layer.window_rows;
  Keys keys;
  if (tokens == 1) {
    // Decoding: after the write the held rows are exactly what the token sees
    // (the sink, and the window (position - recent, position]).
    store(layer, k, v, 0, 1, layer.next_position, /*full=*/true);
    keys.k = this->keys(layer_index);
    keys.v = values(layer_index);
    keys.mask = AttentionMask::none();
    return keys;
  }
  if (held == 0) {
    keys.k = layer.heads.packed(*backend_, k);
    keys.v = layer.heads.packed(*backend_, v);
  } else {
    // The held rows in position order, then the new ones: the cache's storage
    // is overwritten below while these are still to be read.
    const std::vector<int64_t> shape = {held + tokens, layer.heads.size(), k.dim(2)};
    keys.k = backend_->empty(k.dtype(), shape);
    keys.v = backend_->empty(v.dtype(), shape);
    copy_in_order(layer, keys.k, keys.v);
    layer.heads.gather(*backend_, keys.k, held, k, 0, tokens);
    layer.heads.gather(*backend_, keys.v, held, v, 0, tokens);
  }
  // Rows below `sink` are positions below it (the sink fills first) and the
  // rows after the sink are consecutive positions up to the new tokens, so the
  // rule on positions is the streaming mask on rows with offset `held`.
  keys.mask = AttentionMask::streaming(held, sink_, recent_);
  store(layer, keys.k, keys.v, held, tokens, layer.next_position, /*full=*/false);
  return keys;
}

StreamingKvCache::Keys StreamingKvCache::extend_at(int layer_index, const Tensor& k, const Tensor& v,
                                                   const Tensor& positions) {
  Layer& layer = layers_.at(size_t(layer_index));
  SB_REQUIRE(k.rank() == 3 && k.dim(0) == 1 && k.dim(1) == layer.heads.total() && v.shape() == k.shape(),
             "streaming KV cache of layer {}: a decoding step's keys {} / values {} are not [1, {}, d]", layer_index,
             k.describe(), v.describe(), layer.heads.total());
  const int64_t position = layer.next_position;
  std::vector<int64_t> packed(size_t(layer.heads.size()));
  for (size_t i = 0; i < packed.size(); ++i) packed[i] = int64_t(i);
  if (position < sink_) {
    // Still filling the sink: row = position.
    SB_REQUIRE(position == layer.sink_rows, "streaming KV cache: sink position {} given before {}", position,
               layer.sink_rows);
    const RowSlots slots{positions, 0, 0, 0};
    backend_->write_rows_at(layer.k, k, slots, packed, layer.heads.heads());
    backend_->write_rows_at(layer.v, v, slots, packed, layer.heads.heads());
    layer.sink_rows = position + 1;
  } else {
    SB_REQUIRE(layer.sink_rows == sink_, "streaming KV cache: window position {} before the sink is full", position);
    if (layer.base < 0) layer.base = position;
    // The ring slot of store(): sink + (position - base) mod recent.
    const RowSlots slots{positions, layer.base, sink_, recent_};
    backend_->write_rows_at(layer.k, k, slots, packed, layer.heads.heads());
    backend_->write_rows_at(layer.v, v, slots, packed, layer.heads.heads());
    layer.window_rows = std::min(recent_, layer.window_rows + 1);
  }
  layer.next_position = position + 1;
  return {this->keys(layer_index), values(layer_index), AttentionMask::none()};
}

void StreamingKvCache::take(int layer_index, const Tensor& k_full, const Tensor& v_full, int64_t row, int64_t count,
                            int64_t position) {
  Layer& layer = layers_.at(size_t(layer_index));
  store(layer, k_full, v_full, row, count, position, /*full=*/true);
}

}  // namespace sb
