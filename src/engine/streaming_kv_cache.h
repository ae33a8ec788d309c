#pragma once
// The KV of streaming heads (DuoAttention, after StreamingLLM): per layer the
// first `sink` positions and the last `recent` ones, never more, in position
// order: rows [0, sink_rows) are positions [0, sink_rows) and rows
// [sink_rows, sink_rows + window_rows) are consecutive positions ending at
// the last one seen. Storage per layer is [sink + recent, heads, d].
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "engine/head_selection.h"

namespace sb {

class StreamingKvCache {
 public:
  StreamingKvCache() = default;
  // heads_per_layer[l]: the KV heads of layer l kept here (of [T, Hkv, d] inputs).
  StreamingKvCache(Backend& backend, std::vector<HeadSelection> heads_per_layer, int64_t head_dim, int64_t sink,
                   int64_t recent);

  int64_t sink() const { return sink_; }
  int64_t recent() const { return recent_; }
  int64_t sink_rows(int layer) const { return layers_.at(layer).sink_rows; }
  int64_t window_rows(int layer) const { return layers_.at(layer).window_rows; }
  int64_t rows(int layer) const { return sink_rows(layer) + window_rows(layer); }
  const HeadSelection& heads(int layer) const { return layers_.at(layer).heads; }
  // The rows held, [rows(layer), heads, d].
  Tensor keys(int layer) const { return layers_.at(layer).k.rows(0, rows(layer)); }
  Tensor values(int layer) const { return layers_.at(layer).v.rows(0, rows(layer)); }
  size_t bytes() const;

  // What the T tokens of a forward that follow every position seen so far
  // attend to: keys/values [sink rows; window; the new tokens' own] (the new
  // tokens' tensors themselves when nothing is cached: no copy) and the
  // streaming mask in those rows' coordinates. k_new/v_new hold this cache's
  // heads only ([T, heads(layer).size(), d]). The cache then keeps the sink
  // and the last `recent` positions.
  struct Keys {
    Tensor k, v;
    AttentionMask mask;
  };
  Keys extend(int layer, const Tensor& k_new, const Tensor& v_new);

  // Star + duo (phase 1 on the query rank): takes this cache's heads out of
  // full [T, Hkv, d] rows at known positions: rows [row, row + count) hold
  // positions [position, position + count). Positions below `sink` fill the
  // sink, the others the window, which keeps the last `recent` of them; calls
  // come in position order.
  void take(int layer, const Tensor& k_full, const Tensor& v_full, int64_t row, int64_t count, int64_t position);

 private:
  struct Layer {
    Tensor k, v;  // [sink + recent, heads, d]
    HeadSelection heads;
    int64_t sink_rows = 0, window_rows = 0;
    int64_t next_position = 0;  // the position after the last one seen
  };
  // The layer keeps rows [0, min(sink, ...)) as sink and the last `recent` rows
  // after it of `source`, whose rows are positions in this cache's order.
  void keep(Layer& layer, const Tensor& source_k, const Tensor& source_v);

  Backend* backend_ = nullptr;
  std::vector<Layer> layers_;
  int64_t sink_ = 0, recent_ = 0;
};

}  // namespace sb
