// The cuda backend's ops for decoding steps: fused GEMV projections, the
// flash-decoding attention over a rank's KV blocks, and the position-addressed
// KV writes that let a CUDA graph replay a step (cuda_step_replay.cpp).
// Outside the shapes their kernels cover they fall back to Backend's composed
// versions; with STARBENCH_DECODE=legacy they always do.
#include <algorithm>

#include <cuda_runtime_api.h>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/op_signature.h"
#include "backend/head_copy.h"
#include "kernels/flash_decode.cuh"
#include "kernels/gemv.cuh"
#include "kernels/row_slots.cuh"

namespace sb {
namespace {

__nv_bfloat16* bf16_data(const Tensor& t) { return static_cast<__nv_bfloat16*>(t.data()); }
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Starts the GEMV launch of a fused projection of RMSNorm(x), before its
// matrices: zeroed in place (its bytes are the op's signature, padding
// included), x as [tokens, k], the norm.
void start_normed_gemv(kernels::GemvParams& p, const Tensor& x, const Tensor& norm_weight, float eps) {
  reset_zeroed(p);
  p.x = bf16_data(x);
  p.k = x.shape().back();
  p.tokens = int(x.numel() / p.k);
  p.norm_weight = bf16_data(norm_weight);
  p.eps = eps;
}

// Fewest keys a split of the decode kernel reads: below this the split's
// fixed costs (Q load, warp merge, partial write) outweigh its keys.
constexpr int64_t kDecodeMinKeysPerSplit = 256;

}  // namespace

void CudaBackend::copy_from_host(Tensor& dst, const void* host_data) {
  require_eager("copy_from_host");
  SB_REQUIRE(dst.defined() && (host_data != nullptr || dst.nbytes() == 0), "cuda copy_from_host: {} from null",
             dst.describe());
  // Pageable memory: the call returns once the bytes are staged, so the caller may reuse its buffer.
  if (dst.nbytes() > 0) CUDA_CHECK(cudaMemcpyAsync(dst.data(), host_data, dst.nbytes(), cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::write_rows_at(Tensor& dst, const Tensor& src, const RowSlots& slots,
                                const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads) {
  SB_REQUIRE(slots.positions.defined() && slots.positions.dtype() == DType::I32 && src.rank() == 3 &&
                 dst.rank() == 3 && slots.positions.numel() == src.dim(0) && dst.dtype() == src.dtype() &&
                 dst.dim(2) == src.dim(2),
             "cuda write_rows_at: {} into {} at positions {}", src.describe(), dst.describe(),
             slots.positions.defined() ? slots.positions.describe() : "undefined");
  const int64_t head_bytes = dst.dim(2) * int64_t(dtype_size(dst.dtype()));
  auto heads = kernels::HeadList();
  reset_zeroed(heads);
  if (dst_heads.empty() && src_heads.empty()) {
    SB_REQUIRE(dst.dim(1) == src.dim(1), "cuda write_rows_at: {} and {} differ in heads", src.describe(),
               dst.describe());
    heads.count = 1;  // the whole row as one unit
  } else {
    check_head_list("cuda write_rows_at", dst, src, dst_heads, src_heads);
    SB_REQUIRE(dst_heads.size() <= size_t(kernels::kMaxHeadList), "cuda write_rows_at: {} heads (at most {})",
               dst_heads.size(), kernels::kMaxHeadList);
    heads.count = int(dst_heads.size());
    for (size_t i = 0; i < dst_heads.size(); ++i) {
      heads.dst[i] = int32_t(dst_heads[i]);
      heads.src[i] = int32_t(src_heads[i]);
    }
  }
  auto p = kernels::RowSlotsParams();
  reset_zeroed(p);
  p.dst = static_cast<char*>(dst.data());
  p.dst_pitch = dst.dim(1) * head_bytes;
  p.dst_rows = dst.dim(0);
  p.src = static_cast<const char*>(src.data());
  p.src_pitch = src.dim(1) * head_bytes;
  p.rows = src.dim(0);
  p.head_bytes = heads.count == 1 && dst_heads.empty() ? p.dst_pitch : head_bytes;
  p.positions = static_cast<const int32_t*>(slots.positions.data());
  p.first_position = slots.first_position;
  p.first_row = slots.first_row;
  p.period = slots.period;
  p.error_flag = static_cast<int*>(error_flag_.data());
  SB_REQUIRE(p.head_bytes % 16 == 0 && aligned16(p.dst) && aligned16(p.src) && p.dst_pitch % 16 == 0 &&
                 p.src_pitch % 16 == 0,
             "cuda write_rows_at: {} into {} is not in 16-byte units", src.describe(), dst.describe());
  if (!step_gate("write_rows_at", OpSignature("write_rows_at").add_struct(p).add_struct(heads).value())) return;
  kernels::launch_write_rows_at(p, heads, stream_);
  CUDA_CHECK_LAUNCH("write_rows_at");
}

// ---- GEMV ---------------------------------------------------------------------------

bool CudaBackend::gemv_fits(const Tensor& x, const std::vector<const Tensor*>& weights) const {
  if (decode_path_ == DecodePath::Legacy || weights.empty() || weights.size() > size_t(kernels::kGemvMaxMatrices))
    return false;
  if (x.dtype() != DType::BF16 || x.rank() < 1 || !aligned16(x.data())) return false;
  const int64_t k = x.shape().back(), tokens = x.numel() / std::max<int64_t>(k, 1);
  if (tokens < 1 || tokens > kernels::kGemvMaxTokens || k % 8 != 0 || k == 0) return false;
  if (kernels::gemv_shared_bytes(int(tokens), k) > size_t(200) * 1024) return false;
  for (const Tensor* w : weights)
    if (w->dtype() != DType::BF16 || w->rank() != 2 || w->dim(1) != k || !aligned16(w->data())) return false;
  return true;
}

void CudaBackend::rmsnorm_matmul(const Tensor& x, const Tensor& norm_weight, float eps,
                                 const std::vector<const Tensor*>& weights, const std::vector<Tensor*>& outs) {
  SB_REQUIRE(weights.size() == outs.size() && !weights.empty(), "cuda rmsnorm_matmul: {} weights for {} outputs",
             weights.size(), outs.size());
  if (!gemv_fits(x, weights) || norm_weight.numel() != x.shape().back() || !aligned16(norm_weight.data())) {
    Backend::rmsnorm_matmul(x, norm_weight, eps, weights, outs);
    return;
  }
  const int64_t k = x.shape().back(), tokens = x.numel() / k;
  kernels::GemvParams p;
  start_normed_gemv(p, x, norm_weight, eps);
  p.count = int(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    const int64_t n = weights[i]->dim(0);
    SB_REQUIRE(outs[i]->dtype() == DType::BF16 && outs[i]->numel() == tokens * n,
               "cuda rmsnorm_matmul: out {} is not [{}, {}]", outs[i]->describe(), tokens, n);
    count_matmul(tokens, n, k);
    p.m[i] = {bf16_data(*weights[i]), bf16_data(*outs[i]), n};
  }
  if (!step_gate("gemv_norm", OpSignature("gemv_norm").add_struct(p).value())) return;
  kernels::launch_gemv(p, stream_);
  CUDA_CHECK_LAUNCH("gemv_norm");
}

void CudaBackend::rmsnorm_swiglu(const Tensor& x, const Tensor& norm_weight, float eps, const Tensor& gate_w,
                                 const Tensor& up_w, Tensor& out) {
  if (!gemv_fits(x, {&gate_w, &up_w}) || gate_w.dim(0) != up_w.dim(0) || norm_weight.numel() != x.shape().back() ||
      !aligned16(norm_weight.data())) {
    Backend::rmsnorm_swiglu(x, norm_weight, eps, gate_w, up_w, out);
    return;
  }
  const int64_t k = x.shape().back(), tokens = x.numel() / k, n = gate_w.dim(0);
  SB_REQUIRE(out.dtype() == DType::BF16 && out.numel() == tokens * n, "cuda rmsnorm_swiglu: out {} is not [{}, {}]",
             out.describe(), tokens, n);
  count_matmul(tokens, n, k);
  count_matmul(tokens, n, k);
  kernels::GemvParams p;
  start_normed_gemv(p, x, norm_weight, eps);
  p.count = 2;
  p.m[0] = {bf16_data(gate_w), bf16_data(out), n};
  p.m[1] = {bf16_data(up_w), nullptr, n};
  p.swiglu = true;
  if (!step_gate("gemv_swiglu", OpSignature("gemv_swiglu").add_struct(p).value())) return;
  kernels::launch_gemv(p, stream_);
  CUDA_CHECK_LAUNCH("gemv_swiglu");
}

// ---- flash-decoding ----------------------------------------------------------------

bool CudaBackend::decode_attention_fits(const Tensor& q, const std::vector<KeyBlock>& blocks,
                                        const std::vector<int64_t>& q_heads) const {
  if (decode_path_ == DecodePath::Legacy || blocks.empty() || blocks.size() > size_t(kernels::kDecodeMaxBlocks))
    return false;
  if (q.dtype() != DType::BF16 || q.rank() != 3 || !aligned16(q.data())) return false;
  const int64_t d = q.dim(2), kv_heads = blocks[0].k.dim(1);
  const int64_t used = q_heads.empty() ? q.dim(1) : int64_t(q_heads.size());
  if ((d != 64 && d != 128) || kv_heads <= 0 || used % kv_heads != 0) return false;
  if (q.dim(0) * (used / kv_heads) > kernels::kDecodeRows || used > kernels::kDecodeMaxQueryHeads) return false;
  for (const KeyBlock& block : blocks) {
    if (block.k.dtype() != DType::BF16 || block.k.rank() != 3 || block.v.shape() != block.k.shape() ||
        block.k.dim(1) != kv_heads || block.k.dim(2) != d || !aligned16(block.k.data()) || !aligned16(block.v.data()))
      return false;
    const AttentionMask& mask = block.mask;
    if (mask.kind == AttentionMask::Kind::Streaming) return false;
    if (mask.query_positions.defined() && (mask.query_positions.dtype() != DType::I32 ||
                                           mask.query_positions.numel() != q.dim(0)))
      return false;
  }
  return true;
}

void CudaBackend::attention_blocks(const Tensor& q, const std::vector<KeyBlock>& blocks,
                                   const std::vector<int64_t>& q_heads, float scale, Tensor& out, Tensor& lse) {
  if (!decode_attention_fits(q, blocks, q_heads)) {
    last_blocks_path_ = "composed";
    Backend::attention_blocks(q, blocks, q_heads, scale, out, lse);
    return;
  }
  SB_REQUIRE(out.dtype() == DType::BF16 && out.shape() == q.shape() && aligned16(out.data()) &&
                 lse.dtype() == DType::F32 && lse.numel() == q.dim(0) * q.dim(1),
             "cuda attention_blocks: out {} / lse {} for q {}", out.describe(), lse.describe(), q.describe());
  last_blocks_path_ = "flash-decode";
  attention_decode(q, blocks, q_heads, scale, out, lse);
}

void CudaBackend::attention_decode(const Tensor& q, const std::vector<KeyBlock>& blocks,
                                   const std::vector<int64_t>& q_heads, float scale, Tensor& out, Tensor& lse) {
  auto p = kernels::FlashDecodeParams();
  reset_zeroed(p);
  const int64_t kv_heads = blocks[0].k.dim(1);
  const int64_t used = q_heads.empty() ? q.dim(1) : int64_t(q_heads.size());
  p.q = bf16_data(q);
  p.out = bf16_data(out);
  p.lse = static_cast<float*>(lse.data());
  p.q_len = int(q.dim(0));
  p.num_heads = int(q.dim(1));
  p.num_kv_heads = int(kv_heads);
  p.group = int(used / kv_heads);
  p.head_dim = int(q.dim(2));
  p.scale = scale;
  p.head_subset = !q_heads.empty();
  for (size_t i = 0; i < q_heads.size(); ++i) {
    SB_REQUIRE(q_heads[i] >= 0 && q_heads[i] < q.dim(1) && (i == 0 || q_heads[i] > q_heads[i - 1]),
               "cuda attention_blocks: query head {} out of order or of [0, {})", q_heads[i], q.dim(1));
    p.q_heads[i] = int16_t(q_heads[i]);
  }
  // Splits: about two blocks per SM over all blocks' keys (the kernel fits two
  // per SM), never fewer than kDecodeMinKeysPerSplit keys each.
  int64_t total_rows = 0;
  for (const KeyBlock& block : blocks) total_rows += block.k.dim(0);
  const int64_t target_blocks = 2 * int64_t(sm_count_);
  int64_t per_split = (total_rows * kv_heads + target_blocks - 1) / std::max<int64_t>(target_blocks, 1);
  per_split = std::max(per_split, kDecodeMinKeysPerSplit);
  per_split = (per_split + 63) / 64 * 64;
  p.num_blocks = int(blocks.size());
  int split = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const KeyBlock& block = blocks[b];
    kernels::DecodeKeyBlock& kb = p.blocks[b];
    kb.k = bf16_data(block.k);
    kb.v = bf16_data(block.v);
    kb.rows = block.k.dim(0);
    kb.causal = block.mask.kind == AttentionMask::Kind::Causal;
    if (block.mask.query_positions.defined()) {
      kb.positions = static_cast<const int32_t*>(block.mask.query_positions.data());
      kb.key_position0 = block.mask.key_position0;
    } else {
      kb.causal_offset = block.mask.causal_offset;
    }
    kb.first_split = split;
    kb.keys_per_split = per_split;
    kb.splits = int(std::max<int64_t>(1, (kb.rows + per_split - 1) / per_split));
    split += kb.splits;
    count_attention(block.mask, q.dim(0), kb.rows, used, q.dim(2));
  }
  p.total_splits = split;
  Tensor partial_out, partial_lse;
  if (p.total_splits > 1) {
    const int64_t rows = q.dim(0) * used;
    partial_out = empty(DType::F32, {p.total_splits, rows, q.dim(2)});
    partial_lse = empty(DType::F32, {p.total_splits, rows});
    p.partial_out = static_cast<float*>(partial_out.data());
    p.partial_lse = static_cast<float*>(partial_lse.data());
  }
  if (!step_gate("flash_decode", OpSignature("flash_decode").add_struct(p).value())) return;
  kernels::launch_flash_decode(p, stream_);
  CUDA_CHECK_LAUNCH("flash_decode");
}

}  // namespace sb
