#include "attention/global_method.h"

#include <numeric>

#include "util/error.h"

namespace sb {

void CausalPrefillAttention::attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) {
  Tensor lse = backend_.empty(DType::F32, {q.dim(0), q.dim(1)});
  backend_.attention(q, k, v, AttentionMask::causal(0), attention_scale(q.dim(2)), out, lse);
  cache_.append(layer, k, v, keep_from_, k.dim(0));
  if (observer_) observer_(layer, k, v);
}

void GlobalMethod::encode_context(const std::vector<int32_t>& context) {
  SB_REQUIRE(int64_t(context.size()) == context_len_, "{}: expected {} context tokens, got {}", name(), context_len_,
             context.size());
  if (context_len_ == 0) return;  // everything is query: phase 2 alone
  allocate_context_kv(context_len_);
  std::vector<int32_t> positions(context.size());
  std::iota(positions.begin(), positions.end(), 0);
  model_.forward(context, positions, *make_prefill_attention());
}

std::unique_ptr<LayerAttention> GlobalMethod::make_prefill_attention() {
  return std::make_unique<CausalPrefillAttention>(model_.backend(), context_kv_, 0);
}

}  // namespace sb
