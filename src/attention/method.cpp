// AttentionMethod: what every method shares (its KV storage, phase 2's
// forward over the query and generated tokens). Phase 2's attention itself is
// in query_attention.cpp, the factory that picks a method in method_factory.cpp.
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

Tensor AttentionMethod::encode_query(const std::vector<int32_t>& tokens) {
  SB_REQUIRE(!tokens.empty(), "the query is empty: phase 2 needs at least one token");
  SB_REQUIRE(tail_len_ + int64_t(tokens.size()) <= max_tail_tokens_,
             "query/generated tokens exceed the planned {} (have {}, adding {})", max_tail_tokens_, tail_len_,
             tokens.size());
  std::vector<int32_t> positions(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) positions[i] = int32_t(context_len_ + tail_len_ + int64_t(i));
  std::unique_ptr<LayerAttention> attention = make_query_attention();
  Tensor hidden = model_.forward(tokens, positions, *attention);
  tail_len_ += int64_t(tokens.size());
  return hidden;
}

}  // namespace sb
