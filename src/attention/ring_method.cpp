#include "attention/ring_method.h"

#include <array>

#include "util/error.h"

namespace sb {
namespace {

// A rank's chunks as rows of its local token sequence.
struct LocalChunk {
  int64_t index = 0;  // chunk index in the layout (position order)
  TokenRange rows;    // rows of the rank's local sequence
};

std::vector<LocalChunk> local_chunks(const RingLayout& layout, int rank) {
  std::vector<LocalChunk> chunks;
  int64_t row = 0;
  for (int64_t index : layout.chunks_of(rank)) {
    const int64_t size = layout.chunk(index).size();
    chunks.push_back({index, {row, row + size}});
    row += size;
  }
  return chunks;
}

}  // namespace

class RingMethod::RingAttention : public LayerAttention {
 public:
  RingAttention(RingMethod& method) : method_(method), layout_(method.layout_) {
    if (layout_.world_size == 1) return;  // nothing travels
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
    const float scale = attention_scale(q.dim(2));
    method_.context_kv_.append(layer, k, v, 0, local_tokens);

    // Own K and V packed into one buffer: [K rows; V rows] is one transfer.
    // Alone, a rank sends nothing and attends to k and v where they are (so a
    // one-rank ring issues what global attention issues).
    Tensor current;
    if (world > 1) {
      current = kv_buffers_[0].rows(0, 2 * local_tokens);
      backend.copy_rows(current, 0, k, 0, local_tokens);
      backend.copy_rows(current, local_tokens, v, 0, local_tokens);
    }

    const std::vector<LocalChunk> q_chunks = local_chunks(layout_, rank);
    Tensor lse = backend.empty(DType::F32, {local_tokens, q.dim(1)});
    Tensor partial_out = backend.empty(out.dtype(), out.shape());
    Tensor partial_lse = backend.empty(DType::F32, lse.shape());
    std::vector<bool> written(q_chunks.size(), false);

    for (int step = 0; step < world; ++step) {
      const int source = (rank - step + world) % world;  // whose KV `current` holds
      if (step + 1 < world) {
        const int next_source = (rank - step - 1 + world) % world;
        Tensor next = kv_buffers_[(step + 1) % 2].rows(0, 2 * layout_.tokens_of(next_source));
        comm.ring_start(current, (rank + 1) % world, next, (rank - 1 + world) % world);
      }
      const int64_t source_tokens = layout_.tokens_of(source);
      const Tensor source_k = world > 1 ? current.rows(0, source_tokens) : k;
      const Tensor source_v = world > 1 ? current.rows(source_tokens, 2 * source_tokens) : v;
      for (size_t qi = 0; qi < q_chunks.size(); ++qi) {
        for (const LocalChunk& key_chunk : local_chunks(layout_, source)) {
          // Chunk order is position order: earlier chunks are fully visible,
          // the same chunk is causal, later chunks are invisible.
          if (key_chunk.index > q_chunks[qi].index) continue;
          const AttentionMask mask =
              key_chunk.index == q_chunks[qi].index ? AttentionMask::causal(0) : AttentionMask::none();
          const TokenRange q_rows = q_chunks[qi].rows, k_rows = key_chunk.rows;
          const Tensor q_part = q.rows(q_rows.begin, q_rows.end);
          const Tensor k_part = source_k.rows(k_rows.begin, k_rows.end);
          const Tensor v_part = source_v.rows(k_rows.begin, k_rows.end);
          Tensor out_rows = out.rows(q_rows.begin, q_rows.end);
          Tensor lse_rows = lse.rows(q_rows.begin, q_rows.end);
          if (!written[qi]) {
            backend.attention(q_part, k_part, v_part, mask, scale, out_rows, lse_rows);
            written[qi] = true;
          } else {
            Tensor partial_rows = partial_out.rows(q_rows.begin, q_rows.end);
            Tensor partial_lse_rows = partial_lse.rows(q_rows.begin, q_rows.end);
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
    for (bool chunk_written : written) SB_REQUIRE(chunk_written, "ring: rank {} saw no keys for a query chunk", rank);
  }

 private:
  RingMethod& method_;
  const RingLayout& layout_;
  std::array<Tensor, 2> kv_buffers_;  // double buffer: compute on one, receive into the other
};

void RingMethod::encode_context(const std::vector<int32_t>& context) {
  SB_REQUIRE(int64_t(context.size()) == context_len_, "ring: expected {} context tokens, got {}", context_len_,
             context.size());
  const int rank = comm_.rank();
  allocate_context_kv(layout_.tokens_of(rank));
  std::vector<int32_t> tokens, positions;
  for (int64_t chunk_index : layout_.chunks_of(rank)) {
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
