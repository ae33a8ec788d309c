#pragma once
// Exact attention over the whole context on one rank: the reference.
#include <functional>

#include "attention/method.h"

namespace sb {

class GlobalMethod : public AttentionMethod {
 public:
  GlobalMethod(Transformer& model, Comm& comm, int64_t context_len, int64_t max_tail_tokens)
      : GlobalMethod(model, comm, context_len, max_tail_tokens, /*keep_tail_kv=*/true) {}
  std::string name() const override { return "global"; }
  // Phase 1: the whole context in one forward on this rank, at positions 0..,
  // through make_prefill_attention().
  void encode_context(const std::vector<int32_t>& context) final;

 protected:
  // For methods that also hold the whole context on one rank but attend
  // differently (duo): keep_tail_kv as AttentionMethod's.
  GlobalMethod(Transformer& model, Comm& comm, int64_t context_len, int64_t max_tail_tokens, bool keep_tail_kv)
      : AttentionMethod(model, comm, context_len, max_tail_tokens, keep_tail_kv) {}
  // The attention of phase 1's forward, keeping its KV in context_kv_ (allocated
  // by then): causal, every row kept.
  virtual std::unique_ptr<LayerAttention> make_prefill_attention();
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
