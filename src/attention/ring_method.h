#pragma once
// Ring Attention: exact causal attention over a context sharded in a ring
// layout (zigzag: load-balanced; contiguous: the Star Attention paper's
// baseline). Each layer passes every rank's KV once round the ring; the
// transfer of the next block is posted before the attention on the current one,
// so it overlaps compute (NCCL on its own stream; MPI nonblocking on the cpu
// backend).
#include "attention/method.h"

namespace sb {

class RingMethod : public AttentionMethod {
 public:
  RingMethod(Transformer& model, Comm& comm, RingLayout layout, int64_t max_tail_tokens)
      : AttentionMethod(model, comm, layout.context_len, max_tail_tokens), layout_(layout) {}
  std::string name() const override { return "ring"; }
  void encode_context(const std::vector<int32_t>& context) override;
  const RingLayout& layout() const { return layout_; }

 private:
  class RingAttention;
  RingLayout layout_;
};

}  // namespace sb
