#pragma once
// The KV of streaming heads (DuoAttention, after StreamingLLM): per layer the
// first `sink` positions and the last `recent` ones, never more. Storage per
// layer is [sink + recent, heads, d]: rows [0, sink) hold positions [0, sink);
// the window's positions live in the `recent` rows after them as a ring
// (position p in row sink + (p - base) mod recent), so a decoding step writes
// its own row in place and attends to every held row, with no copy and no mask.
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

  bool empty() const { return layers_.empty(); }  // a rank that holds no streaming heads
  int64_t sink() const { return sink_; }
  int64_t recent() const { return recent_; }
  int64_t sink_rows(int layer) const { return layers_.at(size_t(layer)).sink_rows; }
  int64_t window_rows(int layer) const { return layers_.at(size_t(layer)).window_rows; }
  int64_t rows(int layer) const { return sink_rows(layer) + window_rows(layer); }
  int64_t next_position(int layer) const { return layers_.at(size_t(layer)).next_position; }
  const HeadSelection& heads(int layer) const { return layers_.at(size_t(layer)).heads; }
  // The rows held, [rows(layer), heads, d]: the sink, then the window's ring
  // (in position order until it wraps).
  Tensor keys(int layer) const { return layers_.at(size_t(layer)).k.rows(0, rows(layer)); }
  Tensor values(int layer) const { return layers_.at(size_t(layer)).v.rows(0, rows(layer)); }
  size_t bytes() const;

  // The keys/values the T tokens of a forward that follow every position seen
  // so far attend to, and the mask in their rows' coordinates; k and v are the
  // forward's full [T, Hkv, d] (the cache takes its heads out of them). The
  // cache then holds the sink and the last `recent` positions.
  //   T = 1 (decoding): the token's row is written into its slot and the keys
  //   are the held rows, every one visible (no mask, no copy).
  //   T > 1: [sink rows; window in position order; the new rows] (the new rows
  //   alone while nothing is held) under the streaming mask.
  struct Keys {
    Tensor k, v;
    AttentionMask mask;
  };
  Keys extend(int layer, const Tensor& k, const Tensor& v);
  // extend() for one decoding token whose position is in device memory
  // (positions, I32 [1]; its value the layer's next_position()): its row is
  // written into its ring slot by position (Backend::write_rows_at), so a
  // replayed step writes its own slot; the keys are the held rows, no mask.
  // Their count (rows(layer) after the call) is what a replayed step's shape
  // depends on: it stops changing once the window is full.
  Keys extend_at(int layer, const Tensor& k, const Tensor& v, const Tensor& positions);

  // Star + duo (phase 1 on the query rank): takes this cache's heads out of
  // full [T, Hkv, d] rows at known positions: rows [row, row + count) hold
  // positions [position, position + count). Positions below `sink` fill the
  // sink, the others the window (which keeps the last `recent`); the window's
  // positions must come in order, without gaps, and after the sink is full.
  void take(int layer, const Tensor& k_full, const Tensor& v_full, int64_t row, int64_t count, int64_t position);

 private:
  struct Layer {
    Tensor k, v;  // [sink + recent, heads, d]
    HeadSelection heads;
    int64_t sink_rows = 0, window_rows = 0;
    int64_t next_position = 0;  // the position after the last one seen
    int64_t base = -1;          // the window's first position ever (ring slot 0); -1 before any
  };
  int64_t slot(const Layer& layer, int64_t position) const {
    return sink_ + (position - layer.base) % recent_;
  }
  // Rows [row, row + count) of `source` are positions [position, position +
  // count): stores what the layer keeps of them (sink positions, the last
  // `recent` window positions) and advances the layer. `full`: source holds
  // every KV head ([T, Hkv, d]) rather than this cache's.
  void store(Layer& layer, const Tensor& source_k, const Tensor& source_v, int64_t row, int64_t count,
             int64_t position, bool full);
  // [sink rows; window in position order] into rows [0, rows) of dst.
  void copy_in_order(const Layer& layer, Tensor& dst_k, Tensor& dst_v);

  Backend* backend_ = nullptr;
  std::vector<Layer> layers_;
  int64_t sink_ = 0, recent_ = 0;
};

}  // namespace sb
