#pragma once
// Star Attention (arXiv 2411.17116), phase 1: each rank encodes its blocks,
// every block but the first attending causally within [anchor; block], where
// the anchor is the context's first A tokens at positions 0..A-1; only the
// blocks' KV is kept. Phase 2 is the shared distributed query attention.
//
// How a rank gets the anchor (--anchor-mode):
//   recompute  every block runs [anchor; block] through the model, as in the
//              paper's code: a rank with k blocks runs the anchor k times. The
//              only mode for the ablations whose anchor depends on the block
//              (--anchor-source previous, --anchor-positions adjacent).
//   once       the anchor attends only to itself, so its hidden states and KV
//              are the same for every block: a rank runs [anchor; its blocks]
//              through the model once, and each block attends to [anchor KV;
//              own KV]. Exact (same outputs as recompute, to rounding).
//   sent       rank 0 holds block 0, whose first A rows are the anchor: it
//              broadcasts the anchor's K and V each layer (posted a layer ahead,
//              overlapped with compute) and the other ranks skip the anchor's
//              compute altogether. Same outputs; moves A x KV row bytes per layer
//              per receiving rank.
#include "attention/method.h"

namespace sb {

class StarMethod : public AttentionMethod {
 public:
  // anchor_mode: resolved (resolve_anchor_mode), not Auto.
  StarMethod(Transformer& model, Comm& comm, StarLayout layout, int64_t max_tail_tokens, AnchorSource anchor_source,
             AnchorPositions anchor_positions, AnchorMode anchor_mode, bool keep_tail_kv = true);
  std::string name() const override { return "star"; }
  void encode_context(const std::vector<int32_t>& context) override;
  const StarLayout& layout() const { return layout_; }
  AnchorMode anchor_mode() const { return anchor_mode_; }

 protected:
  // Star + duo's hook (duo_method.h): each phase-1 forward's K/V of every
  // layer, every head, before the anchor's rows are dropped: `anchor_tokens`
  // rows of the anchor computed in this forward (positions 0..), then the rows
  // of `blocks` (consecutive positions: one block when recomputing the anchor,
  // the rank's blocks in the once/sent modes).
  virtual void observe_phase1_kv(int /*layer*/, const Tensor& /*k*/, const Tensor& /*v*/, int64_t /*anchor_tokens*/,
                                 TokenRange /*blocks*/) {}

 private:
  class SharedAnchorAttention;
  void encode_recomputing_anchor(const std::vector<int32_t>& context);
  void encode_shared_anchor(const std::vector<int32_t>& context);

  StarLayout layout_;
  AnchorSource anchor_source_;
  AnchorPositions anchor_positions_;
  AnchorMode anchor_mode_;
};

}  // namespace sb
