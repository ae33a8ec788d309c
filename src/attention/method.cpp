// AttentionMethod: what every method shares (KV storage, phase 2 driven through the
// query attention, decoding steps replayed by the backend).
#include "attention/method.h"

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

}  // namespace sb
