// See flash_decode.cuh. Block = 4 warps on one (split, KV head): all warps hold
// the same 16 query rows (Q fragments in registers), warp w takes keys
// [16 w, 16 w + 16) of every 64-key tile, so a tile is loaded once for the
// group and each warp keeps its own online softmax; the 4 partial results are
// merged through shared memory at the end.
#include <cmath>

#include "kernels/flash_decode.cuh"
#include "kernels/mma_sm80.cuh"

namespace sb::kernels {
namespace {

constexpr int kRows = kDecodeRows;
constexpr int kKeys = 64;
constexpr int kStages = 3;
constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

template <int D>
constexpr size_t shared_bytes() {
  // Q, then kStages K and V tiles; the warps' merge reuses the tiles.
  return size_t(kRows) * D * 2 + size_t(kStages) * 2 * kKeys * D * 2;
}
static_assert(size_t(kWarps) * kRows * 128 * 4 + 2 * kWarps * kRows * 4 <= size_t(kStages) * 2 * kKeys * 128 * 2,
              "the merge scratch must fit in the K/V stages");

__device__ inline int query_head(const FlashDecodeParams& p, int kv_head, int g) {
  const int i = kv_head * p.group + g;
  return p.head_subset ? int(p.q_heads[i]) : i;
}

template <int D>
__global__ void __launch_bounds__(kThreads) flash_decode_kernel(const FlashDecodeParams p) {
  constexpr int kChunks = D / 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  __nv_bfloat16* sKV = sQ + kRows * D;  // stage s: K at sKV + 2 s kKeys D, V after it

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int split = blockIdx.x, kv_head = blockIdx.y;
  int b = 0;
  while (b + 1 < p.num_blocks && split >= p.blocks[b + 1].first_split) ++b;
  const DecodeKeyBlock& kb = p.blocks[b];
  const int64_t kv_stride = int64_t(p.num_kv_heads) * D, q_stride = int64_t(p.num_heads) * D;
  const int rows = p.q_len * p.group;

  // Keys of this split, cut at the last key any row may see.
  const int64_t key_begin = int64_t(split - kb.first_split) * kb.keys_per_split;
  int64_t key_end = min(kb.rows, key_begin + kb.keys_per_split);
  auto bound_of = [&](int token) -> int64_t {  // last visible key of a token
    if (!kb.causal) return INT64_MAX;
    if (kb.positions != nullptr) return int64_t(kb.positions[token]) - kb.key_position0;
    return int64_t(token) + kb.causal_offset;
  };
  if (kb.causal) key_end = min(key_end, bound_of(p.q_len - 1) + 1);  // bounds grow with the token
  const int num_tiles = key_end > key_begin ? int((key_end - key_begin + kKeys - 1) / kKeys) : 0;

  for (int c = tid; c < kRows * kChunks; c += kThreads) {
    const int row = c / kChunks, chunk = c % kChunks;
    __nv_bfloat16* dst = sQ + swizzled<D>(row, chunk);
    if (row < rows) {
      const int token = row / p.group, head = query_head(p, kv_head, row % p.group);
      cp_async16(dst, p.q + token * q_stride + int64_t(head) * D + chunk * 8);
    } else {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
    }
  }
  auto load_tile = [&](int tile, int stage) {
    __nv_bfloat16* k_dst = sKV + size_t(stage) * 2 * kKeys * D;
    __nv_bfloat16* v_dst = k_dst + kKeys * D;
    const int64_t key0 = key_begin + int64_t(tile) * kKeys;
    for (int c = tid; c < kKeys * kChunks; c += kThreads) {
      const int row = c / kChunks, chunk = c % kChunks;
      const int64_t key = key0 + row;
      const int at = swizzled<D>(row, chunk);
      if (key < key_end) {
        const int64_t src = key * kv_stride + int64_t(kv_head) * D + chunk * 8;
        cp_async16(k_dst + at, kb.k + src);
        cp_async16(v_dst + at, kb.v + src);
      } else {  // zeros, never stale data: 0 * NaN would poison the output
        *reinterpret_cast<uint4*>(k_dst + at) = make_uint4(0, 0, 0, 0);
        *reinterpret_cast<uint4*>(v_dst + at) = make_uint4(0, 0, 0, 0);
      }
    }
  };
  // Q rides with the first stage's group.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < num_tiles) load_tile(s, s);
    cp_async_commit();
  }

  // This thread's two rows (of the mma fragment) and their last visible keys.
  const int row_a = lane / 4, row_b = lane / 4 + 8;
  int64_t bound[2];
  bound[0] = row_a < rows ? bound_of(row_a / p.group) : -1;
  bound[1] = row_b < rows ? bound_of(row_b / p.group) : -1;

  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY};  // log2 units
  float row_sum[2] = {0.f, 0.f};
  uint32_t qf[D / 16][4];
  const float scale_log2 = p.scale * 1.4426950408889634f;

  for (int it = 0; it < num_tiles; ++it) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // tile `it` has landed for everyone; tile it - 1 is consumed
    if (it + kStages - 1 < num_tiles) load_tile(it + kStages - 1, (it + kStages - 1) % kStages);
    cp_async_commit();
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        const int row = ((lane / 8) % 2) * 8 + lane % 8;
        ldmatrix_x4(qf[kk], sQ + swizzled<D>(row, kk * 2 + lane / 16));
      }
    }
    const __nv_bfloat16* k_tile = sKV + size_t(it % kStages) * 2 * kKeys * D;
    const __nv_bfloat16* v_tile = k_tile + kKeys * D;
    const int64_t key0 = key_begin + int64_t(it) * kKeys + warp * 16;

    float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t bk[4];
      const int key = warp * 16 + (lane / 16) * 8 + lane % 8;
      ldmatrix_x4(bk, k_tile + swizzled<D>(key, kk * 2 + (lane / 8) % 2));
      mma_bf16(s[0], qf[kk], bk[0], bk[1]);
      mma_bf16(s[1], qf[kk], bk[2], bk[3]);
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t key = key0 + nt * 8 + (lane % 4) * 2 + (e & 1);
        if (key >= key_end || key > bound[e / 2]) s[nt][e] = -INFINITY;
      }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float tile_max = fmaxf(fmaxf(s[0][2 * i], s[0][2 * i + 1]), fmaxf(s[1][2 * i], s[1][2 * i + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float new_max = fmaxf(row_max[i], tile_max * scale_log2);
      const float base = new_max == -INFINITY ? 0.f : new_max;  // no key yet: subtract 0, not -inf
      const float correction = exp2f(row_max[i] - base);
      row_max[i] = new_max;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const float p0 = exp2f(s[nt][2 * i] * scale_log2 - base);
        const float p1 = exp2f(s[nt][2 * i + 1] * scale_log2 - base);
        s[nt][2 * i] = p0;
        s[nt][2 * i + 1] = p1;
        sum += p0 + p1;
      }
      row_sum[i] = row_sum[i] * correction + sum;
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt) {
        o[dt][2 * i] *= correction;
        o[dt][2 * i + 1] *= correction;
      }
    }
    const uint32_t a[4] = {pack_bf16(s[0][0], s[0][1]), pack_bf16(s[0][2], s[0][3]), pack_bf16(s[1][0], s[1][1]),
                           pack_bf16(s[1][2], s[1][3])};
#pragma unroll
    for (int dt2 = 0; dt2 < D / 16; ++dt2) {
      uint32_t bv[4];
      const int key = warp * 16 + ((lane / 8) % 2) * 8 + lane % 8;
      ldmatrix_x4_trans(bv, v_tile + swizzled<D>(key, dt2 * 2 + lane / 16));
      mma_bf16(o[2 * dt2], a, bv[0], bv[1]);
      mma_bf16(o[2 * dt2 + 1], a, bv[2], bv[3]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // every warp is done with the tiles: their memory becomes the merge scratch

  // Merge the warps: scratch o [warp][row][D], then max and sum [warp][row].
  float* merge_o = reinterpret_cast<float*>(sKV);
  float* merge_max = merge_o + kWarps * kRows * D;
  float* merge_sum = merge_max + kWarps * kRows;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    float sum = row_sum[i];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int row = lane / 4 + 8 * i;
    if (lane % 4 == 0) {
      merge_max[warp * kRows + row] = row_max[i];
      merge_sum[warp * kRows + row] = sum;
    }
    float* dst = merge_o + (warp * kRows + row) * D;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt)
      *reinterpret_cast<float2*>(dst + dt * 8 + (lane % 4) * 2) = make_float2(o[dt][2 * i], o[dt][2 * i + 1]);
  }
  __syncthreads();

  constexpr int kPerThread = kRows * D / kThreads;  // 16 (D 128) or 8 (D 64) elements of one row
  const int row = tid / (D / kPerThread), d0 = (tid % (D / kPerThread)) * kPerThread;
  if (row >= rows) return;
  float m = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) m = fmaxf(m, merge_max[w * kRows + row]);
  float weight[kWarps], total = 0.f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    weight[w] = m == -INFINITY ? 0.f : exp2f(merge_max[w * kRows + row] - m);
    total += weight[w] * merge_sum[w * kRows + row];
  }
  const bool saw_keys = total > 0.f;
  const float inv = saw_keys ? 1.f / total : 0.f;
  const float lse = saw_keys ? (m + log2f(total)) * 0.6931471805599453f : -INFINITY;
  const int token = row / p.group, g = row % p.group;
  float value[kPerThread];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    float acc = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) acc += weight[w] * merge_o[(w * kRows + row) * D + d0 + j];
    value[j] = acc * inv;
  }
  if (p.total_splits > 1) {
    const int64_t packed_row = (int64_t(token) * p.num_kv_heads + kv_head) * p.group + g;
    const int64_t packed_rows = int64_t(p.q_len) * p.num_kv_heads * p.group;
    float* dst = p.partial_out + (int64_t(split) * packed_rows + packed_row) * D + d0;
#pragma unroll
    for (int j = 0; j < kPerThread; j += 4)
      *reinterpret_cast<float4*>(dst + j) = make_float4(value[j], value[j + 1], value[j + 2], value[j + 3]);
    if (d0 == 0) p.partial_lse[int64_t(split) * packed_rows + packed_row] = lse;
  } else {
    const int head = query_head(p, kv_head, g);
    __nv_bfloat16* dst = p.out + (int64_t(token) * p.num_heads + head) * D + d0;
#pragma unroll
    for (int j = 0; j < kPerThread; j += 2)
      *reinterpret_cast<__nv_bfloat162*>(dst + j) = __floats2bfloat162_rn(value[j], value[j + 1]);
    if (d0 == 0) p.lse[int64_t(token) * p.num_heads + head] = lse;
  }
}

// Merges the splits of one packed (token, KV head, group member) row per warp
// by the log-sum-exp rule (weights once per row), writing it at its query head.
__global__ void decode_combine_kernel(const FlashDecodeParams p) {
  extern __shared__ float split_weights[];  // [warps][total_splits]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t rows = int64_t(p.q_len) * p.num_kv_heads * p.group;
  const int64_t row = blockIdx.x * int64_t(blockDim.x / 32) + warp;
  if (row >= rows) return;  // whole warps leave together
  const int g = int(row % p.group), kv_head = int((row / p.group) % p.num_kv_heads);
  const int64_t token = row / (int64_t(p.group) * p.num_kv_heads);
  const int head = query_head(p, kv_head, g);
  __nv_bfloat16* dst = p.out + (token * p.num_heads + head) * p.head_dim;
  float* dst_lse = p.lse + token * p.num_heads + head;
  float* weights = split_weights + warp * p.total_splits;
  float max_lse = -INFINITY;
  for (int s = lane; s < p.total_splits; s += 32) max_lse = fmaxf(max_lse, p.partial_lse[s * rows + row]);
  for (int offset = 16; offset > 0; offset >>= 1) max_lse = fmaxf(max_lse, __shfl_xor_sync(0xffffffffu, max_lse, offset));
  if (max_lse == -INFINITY) {  // no split saw a key
    for (int d = lane; d < p.head_dim; d += 32) dst[d] = __float2bfloat16(0.f);
    if (lane == 0) *dst_lse = -INFINITY;
    return;
  }
  float total = 0.f;
  for (int s = lane; s < p.total_splits; s += 32) {
    const float w = expf(p.partial_lse[s * rows + row] - max_lse);
    weights[s] = w;
    total += w;
  }
  for (int offset = 16; offset > 0; offset >>= 1) total += __shfl_xor_sync(0xffffffffu, total, offset);
  __syncwarp();
  const float inv_total = 1.f / total;
  for (int d = lane * 4; d < p.head_dim; d += 128) {
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s = 0; s < p.total_splits; ++s) {
      const float w = weights[s];
      if (w == 0.f) continue;
      const float4 v = *reinterpret_cast<const float4*>(p.partial_out + (s * rows + row) * p.head_dim + d);
      acc.x += w * v.x, acc.y += w * v.y, acc.z += w * v.z, acc.w += w * v.w;
    }
    *reinterpret_cast<__nv_bfloat162*>(dst + d) = __floats2bfloat162_rn(acc.x * inv_total, acc.y * inv_total);
    *reinterpret_cast<__nv_bfloat162*>(dst + d + 2) = __floats2bfloat162_rn(acc.z * inv_total, acc.w * inv_total);
  }
  if (lane == 0) *dst_lse = max_lse + logf(total);
}

template <int D>
void launch_for_dim(const FlashDecodeParams& p, cudaStream_t stream) {
  dim3 grid(unsigned(p.total_splits), unsigned(p.num_kv_heads));
  flash_decode_kernel<D><<<grid, kThreads, shared_bytes<D>(), stream>>>(p);
}

}  // namespace

void configure_flash_decode() {
  cudaFuncSetAttribute(flash_decode_kernel<128>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes<128>()));
  cudaFuncSetAttribute(flash_decode_kernel<64>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes<64>()));
}

void launch_flash_decode(const FlashDecodeParams& p, cudaStream_t stream) {
  if (p.q_len <= 0 || p.num_kv_heads <= 0) return;
  if (p.head_dim == 128)
    launch_for_dim<128>(p, stream);
  else
    launch_for_dim<64>(p, stream);
  if (p.total_splits > 1) {
    constexpr int warps = 8;
    const int64_t rows = int64_t(p.q_len) * p.num_kv_heads * p.group;
    const size_t smem = size_t(warps) * size_t(p.total_splits) * sizeof(float);
    decode_combine_kernel<<<unsigned((rows + warps - 1) / warps), warps * 32, smem, stream>>>(p);
  }
}

}  // namespace sb::kernels
