#pragma once
// Exact attention over the whole context on one rank: the reference.
#include "attention/method.h"

namespace sb {

class GlobalMethod : public AttentionMethod {
 public:
  GlobalMethod(Transformer& model, Comm& comm, int64_t context_len, int64_t max_tail_tokens)
      : AttentionMethod(model, comm, context_len, max_tail_tokens) {}
  std::string name() const override { return "global"; }
  void encode_context(const std::vector<int32_t>& context) override;
};

// Causal self-attention over the tokens of one forward pass, keeping the KV
// rows from keep_from on. Global prefill and each star block use it.
class CausalPrefillAttention : public LayerAttention {
 public:
  CausalPrefillAttention(Backend& backend, KvCache& cache, int64_t keep_from)
      : backend_(backend), cache_(cache), keep_from_(keep_from) {}
  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override;

 private:
  Backend& backend_;
  KvCache& cache_;
  int64_t keep_from_;
};

}  // namespace sb
