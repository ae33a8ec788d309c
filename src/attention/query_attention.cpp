// Phase 2, shared by every method (attention/query_attention.h) and the
// AttentionMethod query/decode attention built on it.
#include "attention/query_attention.h"

#include "attention/method.h"
#include "util/error.h"

namespace sb {

void attend_held_kv(Backend& backend, int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                    const KvCache* context, KvCache* tail, float scale, Tensor& out, Tensor& lse) {
  SB_REQUIRE(context || tail, "rank {} holds no context KV in phase 2", current_rank());
  if (context) {
    backend.attention(q, context->keys(layer), context->values(layer), AttentionMask::none(), scale, out, lse);
  }
  if (!tail) return;
  const int64_t num_tokens = q.dim(0);
  tail->append(layer, k, v, 0, num_tokens);
  Tensor tail_k = tail->keys(layer), tail_v = tail->values(layer);
  const AttentionMask mask = AttentionMask::bottom_right(num_tokens, tail_k.dim(0));
  if (!context) {
    backend.attention(q, tail_k, tail_v, mask, scale, out, lse);
    return;
  }
  Tensor tail_out = backend.empty(backend.act_dtype(), out.shape());
  Tensor tail_lse = backend.empty(DType::F32, lse.shape());
  backend.attention(q, tail_k, tail_v, mask, scale, tail_out, tail_lse);
  backend.lse_merge(out, lse, tail_out, tail_lse);
}

void attend_held_kv_at(Backend& backend, int layer, const Tensor& q, const Tensor& k, const Tensor& v,
                       const KvCache* context, KvCache* tail, const Tensor& positions, int64_t tail_position0,
                       const std::vector<int64_t>& q_heads, float scale, Tensor& out, Tensor& lse) {
  SB_REQUIRE(context || tail, "rank {} holds no context KV in phase 2", current_rank());
  std::vector<KeyBlock> blocks;
  if (context) blocks.push_back({context->keys(layer), context->values(layer), AttentionMask::none()});
  if (tail) {
    const int64_t held = tail->length(layer);  // the row this token's KV goes to
    tail->append_at(layer, k, v, positions, tail_position0);
    blocks.push_back({tail->all_keys(layer), tail->all_values(layer),
                      AttentionMask::causal_at(positions, tail_position0, held)});
  }
  backend.attention_blocks(q, blocks, q_heads, scale, out, lse);
}

void merge_on_root(Backend& backend, Comm& comm, Tensor& out, Tensor& lse, int root) {
  const int64_t num_tokens = out.dim(0);
  const bool is_root = comm.rank() == root;
  Tensor all_out, all_lse;
  if (is_root) {
    all_out = backend.empty(out.dtype(), {comm.size() * num_tokens, out.dim(1), out.dim(2)});
    all_lse = backend.empty(DType::F32, {comm.size() * num_tokens, lse.dim(1)});
  }
  comm.gather(out, all_out, root);
  comm.gather(lse, all_lse, root);
  if (!is_root) return;
  Tensor merged_out = all_out.rows(0, num_tokens), merged_lse = all_lse.rows(0, num_tokens);
  for (int rank = 1; rank < comm.size(); ++rank) {
    backend.lse_merge(merged_out, merged_lse, all_out.rows(rank * num_tokens, (rank + 1) * num_tokens),
                      all_lse.rows(rank * num_tokens, (rank + 1) * num_tokens));
  }
  backend.copy_rows(out, 0, merged_out, 0, num_tokens);
  backend.copy_rows(lse, 0, merged_lse, 0, num_tokens);
}

// Phase 2 attention of one layer: local context KV (no mask: the query comes
// after the whole context), plus on the query rank the tail KV (causal,
// bottom-right aligned), merged across ranks on the query rank and sent back.
class AttentionMethod::QueryAttention : public LayerAttention {
 public:
  // positions defined: one decoding token at that device position (attend_held_kv_at).
  explicit QueryAttention(AttentionMethod& method, Tensor positions = Tensor())
      : method_(method), positions_(std::move(positions)) {}

  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    Backend& backend = method_.model_.backend();
    Comm& comm = method_.comm_;
    const float scale = attention_scale(q.dim(2));
    const bool is_query_rank = comm.rank() == method_.query_rank();
    Tensor lse = backend.empty(DType::F32, {q.dim(0), q.dim(1)});
    const KvCache* context = method_.context_kv_.empty() ? nullptr : &method_.context_kv_;
    KvCache* tail = is_query_rank ? &method_.tail_kv_ : nullptr;
    if (positions_.defined())
      attend_held_kv_at(backend, layer, q, k, v, context, tail, positions_, method_.context_len_, {}, scale, out,
                        lse);
    else
      attend_held_kv(backend, layer, q, k, v, context, tail, scale, out, lse);
    if (comm.size() == 1) return;
    merge_on_root(backend, comm, out, lse, method_.query_rank());
    comm.broadcast(out, method_.query_rank());
  }

 private:
  AttentionMethod& method_;
  Tensor positions_;
};

std::unique_ptr<LayerAttention> AttentionMethod::make_query_attention() {
  return std::make_unique<QueryAttention>(*this);
}

std::unique_ptr<LayerAttention> AttentionMethod::make_decode_attention(const Tensor& positions) {
  return std::make_unique<QueryAttention>(*this, positions);
}

}  // namespace sb
