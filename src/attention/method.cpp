#include "attention/method.h"

#include <cmath>

#include "attention/duo_method.h"
#include "attention/global_method.h"
#include "attention/ring_method.h"
#include "attention/star_method.h"
#include "util/error.h"

namespace sb {

AttentionMethod::AttentionMethod(Transformer& model, Comm& comm, int64_t context_len, int64_t max_tail_tokens,
                                 bool keep_tail_kv)
    : model_(model), comm_(comm), context_len_(context_len), max_tail_tokens_(max_tail_tokens) {
  const ModelConfig& config = model_.config();
  if (keep_tail_kv && comm_.rank() == query_rank() && max_tail_tokens_ > 0) {
    tail_kv_ = KvCache(model_.backend(), config.num_layers, max_tail_tokens_, config.num_kv_heads, config.head_dim);
  }
}

void AttentionMethod::allocate_context_kv(int64_t local_tokens) {
  const ModelConfig& config = model_.config();
  context_kv_ = KvCache(model_.backend(), config.num_layers, local_tokens, config.num_kv_heads, config.head_dim);
}

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

Tensor AttentionMethod::decode_step(int32_t token, int32_t position) {
  Backend& backend = model_.backend();
  if (!step_values_.defined()) step_values_ = backend.empty(DType::I32, {2});
  const int32_t values[2] = {token, position};
  backend.copy_from_host(step_values_, values);
  const Tensor token_ids = step_values_.rows(0, 1), positions = step_values_.rows(1, 2);
  std::unique_ptr<LayerAttention> attention = make_decode_attention(positions);
  Tensor hidden;
  replay_->run(decode_step_key(), [&] { hidden = model_.forward(token_ids, positions, *attention); });
  return hidden;
}

Tensor AttentionMethod::encode_query(const std::vector<int32_t>& tokens) {
  SB_REQUIRE(!tokens.empty(), "the query is empty: phase 2 needs at least one token");
  SB_REQUIRE(tail_len_ + int64_t(tokens.size()) <= max_tail_tokens_,
             "query/generated tokens exceed the planned {} (have {}, adding {})", max_tail_tokens_, tail_len_,
             tokens.size());
  std::vector<int32_t> positions(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) positions[i] = int32_t(context_len_ + tail_len_ + int64_t(i));
  if (!replay_made_) {
    replay_made_ = true;
    replay_ = model_.backend().make_step_replay();
    // Graphs for one-rank methods on a one-GPU host; with several ranks, or a
    // host's GPUs sharing the model, a step holds collectives: run it as is.
    if (replay_ && (comm_.size() > 1 || !model_.shard().whole())) replay_ = std::make_unique<StepReplay>();
  }
  if (tokens.size() == 1 && replay_) {
    const int32_t token = tokens[0];
    SB_REQUIRE(token >= 0 && token < model_.config().vocab_size, "token id {} is outside the vocabulary [0, {})",
               token, model_.config().vocab_size);
    Tensor hidden = decode_step(token, positions[0]);
    tail_len_ += 1;
    return hidden;
  }
  std::unique_ptr<LayerAttention> attention = make_query_attention();
  Tensor hidden = model_.forward(tokens, positions, *attention);
  tail_len_ += int64_t(tokens.size());
  return hidden;
}

std::unique_ptr<AttentionMethod> make_method(const MethodSettings& settings, const MethodPlan& plan,
                                             Transformer& model, Comm& comm, int64_t max_tail_tokens) {
  SB_REQUIRE(plan.method == settings.method, "the plan of {} was made for {}", setting_name(settings.method),
             setting_name(plan.method));
  switch (settings.method) {
    case Method::Global:
      SB_REQUIRE(comm.size() == 1, "global attention runs on one rank, got a communicator of {}", comm.size());
      return std::make_unique<GlobalMethod>(model, comm, plan.context_len, max_tail_tokens);
    case Method::Duo:
      SB_REQUIRE(settings.duo, "duo needs a head pattern (--duo-pattern DIR, FILE.tsv or random:SEED)");
      SB_REQUIRE(comm.size() == 1, "duo runs on one rank, got a communicator of {}", comm.size());
      return std::make_unique<DuoMethod>(model, comm, plan.context_len, max_tail_tokens, settings.duo);
    case Method::Ring:
      SB_REQUIRE(comm.size() == plan.ring.world_size, "ring: planned for {} ranks, got a communicator of {}",
                 plan.ring.world_size, comm.size());
      return std::make_unique<RingMethod>(model, comm, plan.ring, max_tail_tokens);
    case Method::Star:
      SB_REQUIRE(comm.size() == plan.star.world_size, "star: planned for {} ranks, got a communicator of {}",
                 plan.star.world_size, comm.size());
      if (settings.duo) return make_star_duo_method(model, comm, plan, max_tail_tokens, settings);
      return std::make_unique<StarMethod>(model, comm, plan.star, max_tail_tokens, settings.anchor_source,
                                          settings.anchor_positions, plan.anchor_mode);
  }
  fail("attention method {} has no factory", int(settings.method));
}

std::unique_ptr<AttentionMethod> make_method(const MethodSettings& settings, Transformer& model, Comm& comm,
                                             int64_t context_len, int64_t max_tail_tokens) {
  return make_method(settings, plan_method(settings, context_len, comm.size()), model, comm, max_tail_tokens);
}

}  // namespace sb
