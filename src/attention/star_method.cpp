#include "attention/star_method.h"

#include <array>

#include "attention/global_method.h"
#include "util/error.h"

namespace sb {

StarMethod::StarMethod(Transformer& model, Comm& comm, StarLayout layout, int64_t max_tail_tokens,
                       AnchorSource anchor_source, AnchorPositions anchor_positions, AnchorMode anchor_mode,
                       bool keep_tail_kv)
    : AttentionMethod(model, comm, layout.context_len, max_tail_tokens, keep_tail_kv),
      layout_(layout),
      anchor_source_(anchor_source),
      anchor_positions_(anchor_positions),
      anchor_mode_(anchor_mode) {
  SB_REQUIRE(anchor_mode_ != AnchorMode::Auto, "star: the anchor mode must be resolved before the method is built");
}

void StarMethod::encode_context(const std::vector<int32_t>& context) {
  SB_REQUIRE(int64_t(context.size()) == context_len_, "star: expected {} context tokens, got {}", context_len_,
             context.size());
  allocate_context_kv(layout_.tokens_of(comm_.rank()));
  if (anchor_mode_ == AnchorMode::Recompute) {
    encode_recomputing_anchor(context);
  } else {
    encode_shared_anchor(context);
  }
}

void StarMethod::encode_recomputing_anchor(const std::vector<int32_t>& context) {
  const TokenRange owned = layout_.blocks_of(comm_.rank());
  for (int64_t block_index = owned.begin; block_index < owned.end; ++block_index) {
    const TokenRange block = layout_.block(block_index);
    const int64_t anchor_tokens = block_index == 0 ? 0 : layout_.anchor_size;
    // anchor_size <= block_size, so the tokens before a block (index >= 1) exist.
    const int64_t anchor_begin = anchor_source_ == AnchorSource::Previous ? block.begin - anchor_tokens : 0;
    const int64_t position_begin = anchor_positions_ == AnchorPositions::Adjacent ? block.begin - anchor_tokens : anchor_begin;
    std::vector<int32_t> tokens, positions;
    tokens.reserve(size_t(anchor_tokens + block.size()));
    positions.reserve(tokens.capacity());
    for (int64_t i = 0; i < anchor_tokens; ++i) {
      tokens.push_back(context[size_t(anchor_begin + i)]);
      positions.push_back(int32_t(position_begin + i));
    }
    for (int64_t i = block.begin; i < block.end; ++i) {
      tokens.push_back(context[size_t(i)]);
      positions.push_back(int32_t(i));
    }
    // The anchor's KV is recomputed per block and dropped: only the block's
    // rows are kept (the paper's memory saving).
    CausalPrefillAttention attention(model_.backend(), context_kv_, anchor_tokens,
                                     [&](int layer, const Tensor& k, const Tensor& v) {
                                       observe_phase1_kv(layer, k, v, anchor_tokens, block);
                                     });
    model_.forward(tokens, positions, attention);
  }
}

// One forward pass over [anchor (when this rank computes it); its blocks].
// Per layer: the anchor rows attend causally to themselves; block 0 (which
// begins with the anchor) likewise; every other block attends to [anchor KV;
// its own KV] with the bottom-right causal mask, in one attention call over a
// scratch buffer that holds the anchor's rows once per layer and each block's
// rows in turn.
class StarMethod::SharedAnchorAttention : public LayerAttention {
 public:
  SharedAnchorAttention(StarMethod& method, int64_t computed_anchor_rows, bool receives_anchor)
      : method_(method), layout_(method.layout_), computed_anchor_rows_(computed_anchor_rows),
        receives_anchor_(receives_anchor) {
    const ModelConfig& config = method_.model_.config();
    Backend& backend = method_.model_.backend();
    const int64_t anchor = layout_.anchor_size;
    num_layers_ = int(config.num_layers);
    if (anchor > 0 && layout_.blocks_of(method_.comm_.rank()).size() > 0) {
      for (Tensor* scratch : {&scratch_k_, &scratch_v_}) {
        *scratch = backend.empty(backend.act_dtype(), {anchor + layout_.block_size, config.num_kv_heads,
                                                       config.head_dim});
      }
    }
    if (receives_anchor_) {
      for (auto& buffer : received_) {
        buffer = backend.empty(backend.act_dtype(), {2 * anchor, config.num_kv_heads, config.head_dim});
      }
    }
  }

  // Sent mode: every rank posts layer 0's anchor broadcast before the forward.
  void post_anchor_broadcast(int layer) {
    Comm& comm = method_.comm_;
    const int64_t anchor = layout_.anchor_size;
    if (comm.rank() == 0) {
      // Block 0's KV, kept per layer in the context cache, is the anchor's.
      Tensor keys = method_.context_kv_.keys(layer).rows(0, anchor);
      Tensor values = method_.context_kv_.values(layer).rows(0, anchor);
      comm.broadcast_start(keys, 0);
      comm.broadcast_start(values, 0);
    } else {
      Tensor& buffer = received_[layer % 2];
      Tensor keys = buffer.rows(0, anchor), values = buffer.rows(anchor, 2 * anchor);
      comm.broadcast_start(keys, 0);
      comm.broadcast_start(values, 0);
    }
  }

  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    Backend& backend = method_.model_.backend();
    Comm& comm = method_.comm_;
    const int64_t anchor = layout_.anchor_size;
    const float scale = attention_scale(q.dim(2));
    const int64_t total_rows = q.dim(0);
    const TokenRange owned = layout_.blocks_of(comm.rank());
    method_.context_kv_.append(layer, k, v, computed_anchor_rows_, total_rows);
    Tensor lse = backend.empty(DType::F32, {total_rows, q.dim(1)});

    auto causal_rows = [&](int64_t begin, int64_t end) {
      Tensor out_rows = out.rows(begin, end), lse_rows = lse.rows(begin, end);
      backend.attention(q.rows(begin, end), k.rows(begin, end), v.rows(begin, end), AttentionMask::causal(0), scale,
                        out_rows, lse_rows);
    };

    // Where this layer's anchor KV comes from.
    const bool sending = method_.anchor_mode_ == AnchorMode::Sent && comm.size() > 1 && anchor > 0;
    if (sending && comm.rank() == 0) {
      // Root: post this layer's anchor now, before the attention, so it travels
      // while rank 0 computes. The previous layer's is completed first (device-
      // side on NCCL, a layer after it was posted), so at most one is in flight
      // and MPI's nonblocking broadcast progresses layer by layer.
      if (layer > 0) comm.broadcast_wait();
      post_anchor_broadcast(layer);
    }
    Tensor anchor_k, anchor_v;
    if (computed_anchor_rows_ > 0) {
      causal_rows(0, computed_anchor_rows_);
      anchor_k = k.rows(0, anchor);
      anchor_v = v.rows(0, anchor);
    } else if (owned.begin == 0) {
      anchor_k = k.rows(0, anchor);  // block 0 begins with the anchor
      anchor_v = v.rows(0, anchor);
    } else if (receives_anchor_) {
      comm.broadcast_wait();
      anchor_k = received_[layer % 2].rows(0, anchor);
      anchor_v = received_[layer % 2].rows(anchor, 2 * anchor);
      if (layer + 1 < num_layers_) post_anchor_broadcast(layer + 1);  // prefetch the next layer's anchor
    }

    if (anchor > 0 && scratch_k_.defined()) {
      backend.copy_rows(scratch_k_, 0, anchor_k, 0, anchor);
      backend.copy_rows(scratch_v_, 0, anchor_v, 0, anchor);
    }
    int64_t row = computed_anchor_rows_;
    for (int64_t block_index = owned.begin; block_index < owned.end; ++block_index) {
      const int64_t size = layout_.block(block_index).size();
      if (block_index == 0 || anchor == 0) {
        causal_rows(row, row + size);
      } else {
        backend.copy_rows(scratch_k_, anchor, k, row, size);
        backend.copy_rows(scratch_v_, anchor, v, row, size);
        const Tensor keys = scratch_k_.rows(0, anchor + size), values = scratch_v_.rows(0, anchor + size);
        Tensor out_rows = out.rows(row, row + size), lse_rows = lse.rows(row, row + size);
        backend.attention(q.rows(row, row + size), keys, values, AttentionMask::bottom_right(size, anchor + size),
                          scale, out_rows, lse_rows);
      }
      row += size;
    }
    if (sending && comm.rank() == 0 && layer + 1 == num_layers_) comm.broadcast_wait();
    method_.observe_phase1_kv(layer, k, v, computed_anchor_rows_,
                              {layout_.block(owned.begin).begin, layout_.block(owned.end - 1).end});
  }

 private:
  StarMethod& method_;
  const StarLayout& layout_;
  int64_t computed_anchor_rows_;
  bool receives_anchor_;
  int num_layers_ = 0;
  Tensor scratch_k_, scratch_v_;     // [anchor + block rows, Hkv, d]: [anchor; one block]
  std::array<Tensor, 2> received_;   // sent mode: [anchor K; anchor V] of layers l and l+1
};

void StarMethod::encode_shared_anchor(const std::vector<int32_t>& context) {
  const int rank = comm_.rank();
  const TokenRange owned = layout_.blocks_of(rank);
  const int64_t anchor = layout_.anchor_size;
  const bool holds_anchor = owned.begin == 0;
  const bool sent = anchor_mode_ == AnchorMode::Sent && comm_.size() > 1 && anchor > 0;
  const int64_t computed_anchor_rows = (!holds_anchor && !sent) ? anchor : 0;
  const bool receives_anchor = sent && rank != 0;

  std::vector<int32_t> tokens, positions;
  const TokenRange span{layout_.block(owned.begin).begin, layout_.block(owned.end - 1).end};
  tokens.reserve(size_t(computed_anchor_rows + span.size()));
  positions.reserve(tokens.capacity());
  for (int64_t i = 0; i < computed_anchor_rows; ++i) {
    tokens.push_back(context[size_t(i)]);
    positions.push_back(int32_t(i));
  }
  for (int64_t i = span.begin; i < span.end; ++i) {
    tokens.push_back(context[size_t(i)]);
    positions.push_back(int32_t(i));
  }
  SharedAnchorAttention attention(*this, computed_anchor_rows, receives_anchor);
  if (receives_anchor) attention.post_anchor_broadcast(0);
  model_.forward(tokens, positions, attention);
}

}  // namespace sb
