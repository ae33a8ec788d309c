#pragma once
// APB (arXiv 2502.12085, thunlp/APB), phase 1: H hosts, host h owns context
// block h (l_b = ceil(C / H) tokens). Hosts h > 0 prefix an anchor: the first
// l_a context tokens at positions 0..l_a-1 and, with --apb-query-in-anchor on,
// the query tokens right after them (positions l_a..); the paper's code puts
// the query after a short system prefix instead (docs/APB.md). Per layer, on
// its rows R = [anchor; block]:
//   1. the compressor (apb_compressor.h) scores every row of R per KV head from
//      the pre-RoPE q, k, v (LayerAttention::before_rope); a max-pool of radius
//      2 runs over all of R (anchor rows included, as in the paper), then the
//      top l_p block rows per KV head are selected (Backend::top_k_rows);
//   2. their post-RoPE K and V (this host's passing block) are all-gathered,
//      overlapped with step 3;
//   3. R attends causally to itself (anchor rows see only the anchor; block
//      rows the anchor and their block causally);
//   4. the block rows also attend to the passing blocks of hosts < h (no mask),
//      merged with step 3 by log-sum-exp. Passing KV is used in this layer only.
// Only the block's KV is kept. l_p = 0: no compressor, no all-gather (star
// with anchor l_a when the query is out of the anchor). Phase 2 is star's
// (AttentionMethod::encode_query).
#include <memory>

#include "attention/apb_compressor.h"
#include "attention/method.h"

namespace sb {

class ApbMethod : public AttentionMethod {
 public:
  // compressor: required when layout.passing > 0.
  ApbMethod(Transformer& model, Comm& comm, ApbLayout layout, int64_t max_tail_tokens,
            std::shared_ptr<const ApbCompressor> compressor);
  std::string name() const override { return "apb"; }
  void set_query(const std::vector<int32_t>& query) override { query_ = query; }
  void encode_context(const std::vector<int32_t>& context) override;
  const ApbLayout& layout() const { return layout_; }

 private:
  class PassingAttention;
  ApbLayout layout_;
  std::shared_ptr<const ApbCompressor> compressor_;
  std::vector<int32_t> query_;
};

// The selection of step 1 alone, on scores [R, Hkv] of R = [anchor_rows rows;
// block rows]: max-pool (radius 2) over every row, then the top k block rows per
// KV head into indices I32 [Hkv, k] (ascending rows of R). pooled [R, Hkv] is scratch.
void apb_select_rows(Backend& backend, const Tensor& scores, int64_t anchor_rows, int64_t k, Tensor& pooled,
                     Tensor& indices);
constexpr int64_t kApbPoolRadius = 2;  // the paper's max_pool1d kernel of 5

}  // namespace sb
