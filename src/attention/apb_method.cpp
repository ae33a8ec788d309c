#include "attention/apb_method.h"

#include "util/error.h"

namespace sb {

void apb_select_rows(Backend& backend, const Tensor& scores, int64_t anchor_rows, int64_t k, Tensor& pooled,
                     Tensor& indices) {
  backend.max_pool_rows(scores, kApbPoolRadius, pooled);
  backend.top_k_rows(pooled, anchor_rows, k, indices);
}

ApbMethod::ApbMethod(Transformer& model, Comm& comm, ApbLayout layout, int64_t max_tail_tokens,
                     std::shared_ptr<const ApbCompressor> compressor)
    : AttentionMethod(model, comm, layout.blocks.context_len, max_tail_tokens),
      layout_(layout),
      compressor_(std::move(compressor)) {
  SB_REQUIRE(comm.size() == layout_.blocks.world_size, "apb: planned for {} hosts, got a communicator of {}",
             layout_.blocks.world_size, comm.size());
  SB_REQUIRE(model.shard().whole(), "apb: hosts of several GPUs are not supported yet (--gpus-per-host 1)");
  SB_REQUIRE(layout_.passing == 0 || compressor_ != nullptr,
             "apb: --apb-passing {} needs a compressor (--apb-compressor DIR or random:SEED)", layout_.passing);
  SB_REQUIRE(compressor_ == nullptr || compressor_->num_layers() == model.config().num_layers,
             "apb: the compressor has {} layers, the model {}", compressor_ ? compressor_->num_layers() : 0,
             model.config().num_layers);
}

// One forward over [anchor; block] of one host (see apb_method.h for the steps).
class ApbMethod::PassingAttention : public LayerAttention {
 public:
  PassingAttention(ApbMethod& method, int64_t anchor_rows, int64_t block_rows)
      : method_(method), anchor_rows_(anchor_rows), block_rows_(block_rows) {
    const ModelConfig& config = method_.model_.config();
    Backend& backend = method_.model_.backend();
    const ApbLayout& layout = method_.layout_;
    const int64_t rows = anchor_rows + block_rows, kv_heads = config.num_kv_heads, d = config.head_dim;
    const int hosts = method_.comm_.size();
    passing_ = layout.passing;
    selected_ = layout.passing_rows(method_.comm_.rank());
    lse_ = backend.empty(DType::F32, {rows, config.num_heads});
    if (passing_ == 0) return;
    hidden_ = backend.empty(backend.act_dtype(), {rows, method_.compressor_->hidden()});
    scores_ = backend.empty(backend.act_dtype(), {rows, kv_heads});
    pooled_ = backend.empty(backend.act_dtype(), {rows, kv_heads});
    indices_ = backend.empty(DType::I32, {kv_heads, selected_});
    for (Tensor* send : {&send_k_, &send_v_}) *send = backend.empty(backend.act_dtype(), {passing_, kv_heads, d});
    for (Tensor* recv : {&recv_k_, &recv_v_}) {
      *recv = backend.empty(backend.act_dtype(), {hosts * passing_, kv_heads, d});
    }
    if (method_.comm_.rank() > 0) {
      passing_out_ = backend.empty(backend.act_dtype(), {block_rows, config.num_heads, d});
      passing_lse_ = backend.empty(DType::F32, {block_rows, config.num_heads});
    }
  }

  void before_rope(int layer, const Tensor& q, const Tensor& k, const Tensor& v) override {
    if (passing_ == 0) return;
    method_.compressor_->score(layer, q, k, v, hidden_, scores_);
    apb_select_rows(method_.model_.backend(), scores_, anchor_rows_, selected_, pooled_, indices_);
  }

  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    Backend& backend = method_.model_.backend();
    Comm& comm = method_.comm_;
    const float scale = attention_scale(q.dim(2));
    const int64_t rows = anchor_rows_ + block_rows_;
    if (passing_ > 0) {
      Tensor chosen_k = send_k_.rows(0, selected_), chosen_v = send_v_.rows(0, selected_);
      backend.gather_head_rows(k, indices_, chosen_k);
      backend.gather_head_rows(v, indices_, chosen_v);
      comm.all_gather_start(send_k_, recv_k_);
      comm.all_gather_start(send_v_, recv_v_);
    }
    method_.context_kv_.append(layer, k, v, anchor_rows_, rows);
    // Anchor rows see the anchor causally; block rows the anchor and their block causally.
    backend.attention(q, k, v, AttentionMask::causal(0), scale, out, lse_);
    if (passing_ == 0) return;
    comm.all_gather_wait();
    const int rank = comm.rank();
    if (rank == 0) return;
    const int64_t passed = int64_t(rank) * passing_;  // hosts 0..rank-1, l_p rows each (full blocks)
    backend.attention(q.rows(anchor_rows_, rows), recv_k_.rows(0, passed), recv_v_.rows(0, passed),
                      AttentionMask::none(), scale, passing_out_, passing_lse_);
    Tensor block_out = out.rows(anchor_rows_, rows), block_lse = lse_.rows(anchor_rows_, rows);
    backend.lse_merge(block_out, block_lse, passing_out_, passing_lse_);
  }

 private:
  ApbMethod& method_;
  int64_t anchor_rows_, block_rows_;
  int64_t passing_ = 0, selected_ = 0;  // l_p; rows this host selects (l_p, or its whole shorter block)
  Tensor lse_;
  Tensor hidden_, scores_, pooled_, indices_;  // the compressor's [R, hidden], [R, Hkv] x 2; I32 [Hkv, selected]
  Tensor send_k_, send_v_, recv_k_, recv_v_;   // [l_p, Hkv, d]; [H l_p, Hkv, d], hosts in rank order
  Tensor passing_out_, passing_lse_;           // the block rows' attention to the passing blocks
};

void ApbMethod::encode_context(const std::vector<int32_t>& context) {
  SB_REQUIRE(int64_t(context.size()) == context_len_, "apb: expected {} context tokens, got {}", context_len_,
             context.size());
  const int rank = comm_.rank();
  const TokenRange block = layout_.blocks.block(rank);
  const int64_t anchor_context = rank == 0 ? 0 : layout_.anchor_context_tokens();
  const bool query_in_anchor = rank > 0 && layout_.query_in_anchor;
  SB_REQUIRE(!query_in_anchor || !query_.empty(),
             "apb: --apb-query-in-anchor on needs the query before the context (AttentionMethod::set_query)");
  std::vector<int32_t> tokens, positions;
  for (int64_t i = 0; i < anchor_context; ++i) {
    tokens.push_back(context[size_t(i)]);
    positions.push_back(int32_t(i));
  }
  if (query_in_anchor) {
    for (size_t i = 0; i < query_.size(); ++i) {
      tokens.push_back(query_[i]);
      positions.push_back(int32_t(anchor_context + int64_t(i)));
    }
  }
  const int64_t anchor_rows = int64_t(tokens.size());
  for (int64_t i = block.begin; i < block.end; ++i) {
    tokens.push_back(context[size_t(i)]);
    positions.push_back(int32_t(i));
  }
  allocate_context_kv(block.size());
  PassingAttention attention(*this, anchor_rows, block.size());
  model_.forward(tokens, positions, attention);
}

}  // namespace sb
