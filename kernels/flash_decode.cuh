#pragma once
// Split-KV attention for the few query rows of a decoding step (flash-decoding):
// the rows of one KV head's group (q_len x group <= 16: one mma tile) attend to
// long key blocks, every K/V tile read once for the whole group. Keys are split
// across the grid (splits x KV heads blocks, about two per SM) and, inside a
// block, across its 4 warps (16 keys of each 64-key tile each); tiles stream
// through a 3-stage cp.async pipeline. Each block merges its warps and writes a
// partial (out, lse); a second kernel merges the splits by the log-sum-exp rule.
//
// Up to two key blocks (a rank's context KV and its tail KV) are attended to
// in one launch, so their merge is the split merge. A block's mask is none,
// causal with a fixed offset, or causal by position (the bound of token t read
// from positions[t] in device memory: a replayed decoding step sees its own).
// A head subset (DuoAttention's heads of one kind) is read from and written to
// the full q/out at the query heads it names; the blocks then hold only their
// KV heads, packed.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace sb::kernels {

constexpr int kDecodeRows = 16;        // q_len x group rows per KV head
constexpr int kDecodeMaxBlocks = 2;
constexpr int kDecodeMaxQueryHeads = 128;

struct DecodeKeyBlock {
  const __nv_bfloat16* k = nullptr;  // [rows, num_kv_heads, head_dim]
  const __nv_bfloat16* v = nullptr;
  int64_t rows = 0;
  bool causal = false;
  int64_t causal_offset = 0;          // token t sees key j <= t + causal_offset
  const int32_t* positions = nullptr;  // causal by position: token t sees key j <= positions[t] - key_position0
  int64_t key_position0 = 0;
  int first_split = 0, splits = 1;     // this block's splits in the grid
  int64_t keys_per_split = 0;          // a multiple of 64
};

struct FlashDecodeParams {
  const __nv_bfloat16* q = nullptr;  // [q_len, num_heads, head_dim]
  __nv_bfloat16* out = nullptr;      // [q_len, num_heads, head_dim]
  float* lse = nullptr;              // [q_len, num_heads]
  int q_len = 0, num_heads = 0, num_kv_heads = 0, group = 0, head_dim = 0;
  float scale = 1.f;
  // KV head i (of the blocks) serves query heads q_heads[i * group + g]; when
  // !head_subset, query head i * group + g.
  bool head_subset = false;
  int16_t q_heads[kDecodeMaxQueryHeads] = {};
  DecodeKeyBlock blocks[kDecodeMaxBlocks];
  int num_blocks = 1;
  int total_splits = 1;
  float* partial_out = nullptr;  // [total_splits, q_len * num_kv_heads * group, head_dim]
  float* partial_lse = nullptr;  // [total_splits, q_len * num_kv_heads * group]
};

void configure_flash_decode();
void launch_flash_decode(const FlashDecodeParams& params, cudaStream_t stream);

}  // namespace sb::kernels
