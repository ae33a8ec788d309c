#pragma once
// Exact attention over the whole context on one rank: the reference.
#include <functional>

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
  // Sees each layer's K/V of the whole forward (rows before keep_from too)
  // before they are dropped: star + duo takes its streaming heads' sink and
  // window from star's phase 1 here (duo_method.h).
  using KvObserver = std::function<void(int layer, const Tensor& k, const Tensor& v)>;
  CausalPrefillAttention(Backend& backend, KvCache& cache, int64_t keep_from, KvObserver observer = {})
      : backend_(backend), cache_(cache), keep_from_(keep_from), observer_(std::move(observer)) {}
  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override;

 private:
  Backend& backend_;
  KvCache& cache_;
  int64_t keep_from_;
  KvObserver observer_;
};

}  // namespace sb
