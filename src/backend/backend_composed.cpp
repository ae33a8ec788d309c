// The fused ops of Backend written as the ops they fuse: what the cpu backend
// (the fp32 reference) and the simulator (which charges each part) run, and
// what the cuda backend falls back to outside the shapes its kernels cover.
#include <algorithm>

#include "backend/backend.h"
#include "util/error.h"

namespace sb {

int64_t row_slot(const RowSlots& slots, int64_t position, int64_t rows) {
  int64_t offset = position - slots.first_position;
  if (slots.period > 0) offset = ((offset % slots.period) + slots.period) % slots.period;
  const int64_t row = slots.first_row + offset;
  SB_REQUIRE(row >= 0 && row < rows, "write_rows_at: position {} maps to row {} of a {}-row store", position, row,
             rows);
  return row;
}

void Backend::attention_blocks(const Tensor& q, const std::vector<KeyBlock>& blocks,
                               const std::vector<int64_t>& q_heads, float scale, Tensor& out, Tensor& lse) {
  SB_REQUIRE(!blocks.empty(), "attention_blocks: no key block");
  SB_REQUIRE(q.rank() == 3 && out.shape() == q.shape() && lse.numel() == q.dim(0) * q.dim(1),
             "attention_blocks: q {} / out {} / lse {} do not match", q.describe(), out.describe(), lse.describe());
  const int64_t tokens = q.dim(0), heads = q.dim(1), d = q.dim(2);
  // The query heads computed, packed (every head: q itself).
  Tensor q_used = q, out_used = out, lse_used = lse;
  std::vector<int64_t> packed;
  if (!q_heads.empty()) {
    const int64_t used = int64_t(q_heads.size()), kv_used = blocks[0].k.dim(1);
    SB_REQUIRE(kv_used > 0 && used % kv_used == 0, "attention_blocks: {} query heads for {} KV heads", used, kv_used);
    for (size_t i = 0; i < q_heads.size(); ++i) packed.push_back(int64_t(i));
    q_used = empty(q.dtype(), {tokens, used, d});
    copy_head_list(q_used, 0, q, 0, tokens, packed, q_heads);
    out_used = empty(out.dtype(), {tokens, used, d});
    lse_used = empty(DType::F32, {tokens, used});
  }
  Tensor lse3 = lse_used.reshape({tokens, lse_used.numel() / std::max<int64_t>(tokens, 1)});
  attention(q_used, blocks[0].k, blocks[0].v, blocks[0].mask, scale, out_used, lse3);
  for (size_t b = 1; b < blocks.size(); ++b) {
    Tensor block_out = empty(out_used.dtype(), out_used.shape());
    Tensor block_lse = empty(DType::F32, lse3.shape());
    attention(q_used, blocks[b].k, blocks[b].v, blocks[b].mask, scale, block_out, block_lse);
    lse_merge(out_used, lse3, block_out, block_lse);
  }
  if (!q_heads.empty()) {
    copy_head_list(out, 0, out_used, 0, tokens, q_heads, packed);
    Tensor lse_full = lse.reshape({tokens, heads, 1});
    copy_head_list(lse_full, 0, lse_used.reshape({tokens, int64_t(q_heads.size()), 1}), 0, tokens, q_heads, packed);
  }
}

void Backend::rmsnorm_matmul(const Tensor& x, const Tensor& norm_weight, float eps,
                             const std::vector<const Tensor*>& weights, const std::vector<Tensor*>& outs) {
  SB_REQUIRE(weights.size() == outs.size() && !weights.empty(), "rmsnorm_matmul: {} weights for {} outputs",
             weights.size(), outs.size());
  Tensor normed = empty(x.dtype(), x.shape());
  rmsnorm(x, norm_weight, eps, normed);
  for (size_t i = 0; i < weights.size(); ++i) matmul(normed, *weights[i], *outs[i]);
}

void Backend::rmsnorm_swiglu(const Tensor& x, const Tensor& norm_weight, float eps, const Tensor& gate_w,
                             const Tensor& up_w, Tensor& out) {
  Tensor normed = empty(x.dtype(), x.shape());
  rmsnorm(x, norm_weight, eps, normed);
  Tensor up = empty(out.dtype(), out.shape());
  matmul(normed, gate_w, out);
  matmul(normed, up_w, up);
  swiglu(out, up, out);
}

}  // namespace sb
