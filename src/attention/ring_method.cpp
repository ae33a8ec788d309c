#include "attention/ring_method.h"

#include <array>
#include <cmath>

#include "util/error.h"

namespace sb {

class RingMethod::RingAttention : public LayerAttention {
 public:
  RingAttention(RingMethod& method) : method_(method), layout_(method.layout_) {
    const ModelConfig& config = method_.model_.config();
    Backend& backend = method_.model_.backend();
    const int64_t max_rows = 2 * layout_.max_tokens_per_rank();
    for (Tensor& buffer : kv_buffers_) {
      buffer = backend.empty(backend.act_dtype(), {max_rows, config.num_kv_heads, config.head_dim});
    }
  }

  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    Backend& backend = method_.model_.backend();
    Comm& comm = method_.comm_;
    const int rank = comm.rank(), world = comm.size();
    const int64_t local_tokens = k.dim(0);
    const float scale = float(1.0 / std::sqrt(double(q.dim(2))));
    method_.context_kv_.append(layer, k, v, 0, local_tokens);

    // Own K and V packed into one buffer: [K rows; V rows] is one transfer.
    Tensor current = kv_buffers_[0].rows(0, 2 * local_tokens);
    backend.copy_rows(current, 0, k, 0, local_tokens);
    backend.copy_rows(current, local_tokens, v, 0, local_tokens);

    const std::array<int64_t, 2> q_chunks = {layout_.first_chunk(rank), layout_.second_chunk(rank)};
    const int64_t first_len = layout_.chunk(q_chunks[0]).size();
    const std::array<TokenRange, 2> q_rows = {TokenRange{0, first_len}, TokenRange{first_len, local_tokens}};
    Tensor lse = backend.empty(DType::F32, {local_tokens, q.dim(1)});
    Tensor partial_out = backend.empty(out.dtype(), out.shape());
    Tensor partial_lse = backend.empty(DType::F32, lse.shape());
    std::array<bool, 2> written = {false, false};

    for (int step = 0; step < world; ++step) {
      const int source = (rank - step + world) % world;  // whose KV `current` holds
      if (step + 1 < world) {
        const int next_source = (rank - step - 1 + world) % world;
        Tensor next = kv_buffers_[(step + 1) % 2].rows(0, 2 * layout_.tokens_of(next_source));
        comm.ring_start(current, (rank + 1) % world, next, (rank - 1 + world) % world);
      }
      const int64_t source_tokens = layout_.tokens_of(source);
      const Tensor source_k = current.rows(0, source_tokens), source_v = current.rows(source_tokens, 2 * source_tokens);
      const std::array<int64_t, 2> k_chunks = {layout_.first_chunk(source), layout_.second_chunk(source)};
      const int64_t source_first_len = layout_.chunk(k_chunks[0]).size();
      const std::array<TokenRange, 2> k_rows = {TokenRange{0, source_first_len},
                                                TokenRange{source_first_len, source_tokens}};
      for (int qi = 0; qi < 2; ++qi) {
        for (int ki = 0; ki < 2; ++ki) {
          // Chunk order is position order: earlier chunks are fully visible,
          // the same chunk is causal, later chunks are invisible.
          if (k_chunks[ki] > q_chunks[qi]) continue;
          const AttentionMask mask =
              k_chunks[ki] == q_chunks[qi] ? AttentionMask::causal(0) : AttentionMask::none();
          const Tensor q_part = q.rows(q_rows[qi].begin, q_rows[qi].end);
          const Tensor k_part = source_k.rows(k_rows[ki].begin, k_rows[ki].end);
          const Tensor v_part = source_v.rows(k_rows[ki].begin, k_rows[ki].end);
          Tensor out_rows = out.rows(q_rows[qi].begin, q_rows[qi].end);
          Tensor lse_rows = lse.rows(q_rows[qi].begin, q_rows[qi].end);
          if (!written[qi]) {
            backend.attention(q_part, k_part, v_part, mask, scale, out_rows, lse_rows);
            written[qi] = true;
          } else {
            Tensor partial_rows = partial_out.rows(q_rows[qi].begin, q_rows[qi].end);
            Tensor partial_lse_rows = partial_lse.rows(q_rows[qi].begin, q_rows[qi].end);
            backend.attention(q_part, k_part, v_part, mask, scale, partial_rows, partial_lse_rows);
            backend.lse_merge(out_rows, lse_rows, partial_rows, partial_lse_rows);
          }
        }
      }
      if (step + 1 < world) {
        comm.ring_wait();
        current = kv_buffers_[(step + 1) % 2].rows(0, 2 * layout_.tokens_of((rank - step - 1 + world) % world));
      }
    }
    SB_REQUIRE(written[0] && written[1], "ring: rank {} saw no keys for a query chunk", rank);
  }

 private:
  RingMethod& method_;
  const ZigzagLayout& layout_;
  std::array<Tensor, 2> kv_buffers_;  // double buffer: compute on one, receive into the other
};

void RingMethod::encode_context(const std::vector<int32_t>& context) {
  SB_REQUIRE(int64_t(context.size()) == context_len_, "ring: expected {} context tokens, got {}", context_len_,
             context.size());
  const int rank = comm_.rank();
  allocate_context_kv(layout_.tokens_of(rank));
  std::vector<int32_t> tokens, positions;
  for (int64_t chunk_index : {layout_.first_chunk(rank), layout_.second_chunk(rank)}) {
    const TokenRange chunk = layout_.chunk(chunk_index);
    for (int64_t i = chunk.begin; i < chunk.end; ++i) {
      tokens.push_back(context[size_t(i)]);
      positions.push_back(int32_t(i));
    }
  }
  RingAttention attention(*this);
  model_.forward(tokens, positions, attention);
}

}  // namespace sb
