#pragma once
// Our own flash-attention-2 forward (mma.sync m16n8k16 bf16, fp32 softmax and
// accumulation) with the per-row log-sum-exp. Rows of a block are (token,
// query-head-of-one-KV-group) pairs, so the query heads that share a KV head
// share its K/V tiles (GQA) and a few decode tokens still fill a tile.
//
// Split-KV: with num_splits > 1 each split attends to keys
// [s*keys_per_split, (s+1)*keys_per_split) and writes fp32 partial out/lse;
// a second kernel merges the splits by the log-sum-exp rule. Used when the
// (row tiles x KV heads) grid alone cannot fill the GPU: decode and short
// queries against a long KV.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace sb::kernels {

struct FlashAttentionParams {
  const __nv_bfloat16* q = nullptr;  // [q_len, num_heads, head_dim]
  const __nv_bfloat16* k = nullptr;  // [k_len, num_kv_heads, head_dim]
  const __nv_bfloat16* v = nullptr;  // [k_len, num_kv_heads, head_dim]
  __nv_bfloat16* out = nullptr;      // [q_len, num_heads, head_dim]
  float* lse = nullptr;              // [q_len, num_heads], natural log; -inf for rows that saw no key
  int64_t q_len = 0, k_len = 0;
  int num_heads = 0, num_kv_heads = 0, head_dim = 0;  // head_dim 64 or 128
  float scale = 1.f;
  bool causal = false;        // query i sees key j iff j <= i + causal_offset
  int64_t causal_offset = 0;
  // window > 0 (with causal): the streaming (Λ) mask; of the keys before a
  // query's last `window` visible ones only the first `sink` stay visible.
  // Only the sink's and the windows' key tiles are read. No split-KV.
  int64_t sink = 0, window = 0;
  int num_splits = 1;          // > 1: split-KV, needs the two partial buffers below
  int64_t keys_per_split = 0;  // a multiple of 64
  float* partial_out = nullptr;  // [num_splits, q_len, num_heads, head_dim]
  float* partial_lse = nullptr;  // [num_splits, q_len, num_heads]
};

// Rows per block: the unit of the split decision on the host.
constexpr int kFlashRowsPerBlock = 64;
constexpr int kFlashKeysPerTile = 64;

void launch_flash_attention(const FlashAttentionParams& params, cudaStream_t stream);

}  // namespace sb::kernels
