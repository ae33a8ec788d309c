#pragma once
// Star Attention (arXiv 2411.17116), phase 1: each rank encodes its blocks,
// every block but the first prefixed by the anchor (which keeps positions
// 0..A-1), attending causally within [anchor; block] and keeping only the
// block's KV. Phase 2 is the shared distributed query attention.
#include "attention/method.h"

namespace sb {

class StarMethod : public AttentionMethod {
 public:
  StarMethod(Transformer& model, Comm& comm, StarLayout layout, int64_t max_tail_tokens,
             std::string anchor_source = "first", std::string anchor_positions = "original",
             bool keep_tail_kv = true)
      : AttentionMethod(model, comm, layout.context_len, max_tail_tokens, keep_tail_kv),
        layout_(layout),
        anchor_source_(std::move(anchor_source)),
        anchor_positions_(std::move(anchor_positions)) {}
  std::string name() const override { return "star"; }
  void encode_context(const std::vector<int32_t>& context) override;
  const StarLayout& layout() const { return layout_; }

 protected:
  // Star + duo's hook (duo_method.h): each phase-1 forward's K/V of every layer,
  // [anchor rows (anchor_tokens of them); the block's rows], before the anchor's are dropped.
  virtual void observe_phase1_kv(int /*layer*/, const Tensor& /*k*/, const Tensor& /*v*/, int64_t /*anchor_tokens*/,
                                 TokenRange /*block*/) {}

 private:
  StarLayout layout_;
  std::string anchor_source_, anchor_positions_;
};

}  // namespace sb
