// Flash-attention-2 forward for sm_80+ (runs on Hopper through mma.sync).
// Block = 4 warps = 64 rows; each warp owns 16 rows and keeps its Q fragments,
// scores and output accumulators in registers. K/V tiles of 64 keys stream
// through shared memory with cp.async, double-buffered, XOR-swizzled by
// 16-byte chunk so ldmatrix reads are conflict-free.
#include <cmath>

#include "kernels/flash_attention.cuh"
#include "kernels/mma_sm80.cuh"

namespace sb::kernels {
namespace {

constexpr int kRows = kFlashRowsPerBlock;
constexpr int kKeys = kFlashKeysPerTile;
constexpr int kThreads = 128;

template <int D>
__global__ void __launch_bounds__(kThreads) flash_forward_kernel(const FlashAttentionParams p) {
  constexpr int kChunks = D / 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  __nv_bfloat16* sQ = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  __nv_bfloat16* sK = sQ + kRows * D;  // two buffers
  __nv_bfloat16* sV = sK + 2 * kKeys * D;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int group = p.num_heads / p.num_kv_heads;
  const int64_t total_rows = p.q_len * group;
  // Heaviest causal tiles (last rows) first, so the tail of the grid is light.
  const int64_t r0 = int64_t(gridDim.x - 1 - blockIdx.x) * kRows;
  const int kv_head = blockIdx.y;
  const int split = blockIdx.z;
  const int64_t q_stride = int64_t(p.num_heads) * D, kv_stride = int64_t(p.num_kv_heads) * D;

  int64_t key_begin = int64_t(split) * p.keys_per_split;
  int64_t key_end = min(p.k_len, key_begin + p.keys_per_split);
  const int64_t first_token = r0 / group;
  if (p.causal) {
    int64_t last_token = (min(total_rows, r0 + kRows) - 1) / group;
    key_end = min(key_end, last_token + p.causal_offset + 1);
  }
  int num_tiles = key_end > key_begin ? int((key_end - key_begin + kKeys - 1) / kKeys) : 0;
  // Streaming mask: the sink's tiles, then the tiles of the block's windows
  // (from the first token's window start, tile-aligned, after the sink's tiles).
  int sink_tiles = 0;
  int64_t window_key0 = key_begin;
  if (p.window > 0) {
    const int64_t sink_end = min(p.sink, key_end);
    sink_tiles = sink_end > key_begin ? int((sink_end - key_begin + kKeys - 1) / kKeys) : 0;
    const int64_t window_start = max(int64_t(0), first_token + p.causal_offset - p.window + 1);
    window_key0 = max(key_begin + int64_t(sink_tiles) * kKeys, window_start / kKeys * kKeys);
    num_tiles = sink_tiles + (key_end > window_key0 ? int((key_end - window_key0 + kKeys - 1) / kKeys) : 0);
  }
  auto tile_key0 = [&](int it) {
    return it < sink_tiles ? key_begin + int64_t(it) * kKeys : window_key0 + int64_t(it - sink_tiles) * kKeys;
  };

  auto q_offset = [&](int64_t r) {
    return (r / group) * q_stride + int64_t(kv_head * group + int(r % group)) * D;
  };

  for (int c = tid; c < kRows * kChunks; c += kThreads) {
    int row = c / kChunks, chunk = c % kChunks;
    __nv_bfloat16* dst = sQ + swizzled<D>(row, chunk);
    if (r0 + row < total_rows)
      cp_async16(dst, p.q + q_offset(r0 + row) + chunk * 8);
    else
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
  }
  auto load_kv = [&](int64_t key0, int buffer) {
    __nv_bfloat16* k_dst = sK + buffer * kKeys * D;
    __nv_bfloat16* v_dst = sV + buffer * kKeys * D;
    for (int c = tid; c < kKeys * kChunks; c += kThreads) {
      int row = c / kChunks, chunk = c % kChunks;
      int64_t key = key0 + row;
      int at = swizzled<D>(row, chunk);
      if (key < key_end) {
        int64_t src = key * kv_stride + int64_t(kv_head) * D + chunk * 8;
        cp_async16(k_dst + at, p.k + src);
        cp_async16(v_dst + at, p.v + src);
      } else {  // zeros, never stale data: 0 * NaN would poison the output
        *reinterpret_cast<uint4*>(k_dst + at) = make_uint4(0, 0, 0, 0);
        *reinterpret_cast<uint4*>(v_dst + at) = make_uint4(0, 0, 0, 0);
      }
    }
  };
  if (num_tiles > 0) load_kv(tile_key0(0), 0);
  cp_async_commit();

  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY};  // in log2 units (scores * scale * log2 e)
  float row_sum[2] = {0.f, 0.f};              // this thread's part; the quad sums at the end
  uint32_t qf[D / 16][4];
  const int row_in_tile[2] = {warp * 16 + lane / 4, warp * 16 + lane / 4 + 8};
  int64_t token[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) token[i] = (r0 + row_in_tile[i]) / group;
  const float scale_log2 = p.scale * 1.4426950408889634f;

  for (int it = 0; it < num_tiles; ++it) {
    const int buffer = it & 1;
    const int64_t key0 = tile_key0(it);
    if (it + 1 < num_tiles) {
      load_kv(tile_key0(it + 1), buffer ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        int row = warp * 16 + ((lane / 8) % 2) * 8 + lane % 8;
        ldmatrix_x4(qf[kk], sQ + swizzled<D>(row, kk * 2 + lane / 16));
      }
    }
    const __nv_bfloat16* k_tile = sK + buffer * kKeys * D;
    const __nv_bfloat16* v_tile = sV + buffer * kKeys * D;

    float s[kKeys / 8][4];
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int nt2 = 0; nt2 < kKeys / 16; ++nt2) {
        uint32_t b[4];
        int key = nt2 * 16 + (lane / 16) * 8 + lane % 8;
        ldmatrix_x4(b, k_tile + swizzled<D>(key, kk * 2 + (lane / 8) % 2));
        mma_bf16(s[2 * nt2], qf[kk], b[0], b[1]);
        mma_bf16(s[2 * nt2 + 1], qf[kk], b[2], b[3]);
      }
    }

    const bool needs_mask = p.window > 0 || key0 + kKeys > key_end ||
                            (p.causal && key0 + kKeys - 1 > first_token + p.causal_offset);
    if (needs_mask) {
#pragma unroll
      for (int nt = 0; nt < kKeys / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int64_t key = key0 + nt * 8 + (lane % 4) * 2 + (e & 1);
          int64_t t = token[e / 2];
          bool visible = key < key_end && (!p.causal || key <= t + p.causal_offset) &&
                         (p.window == 0 || key < p.sink || t + p.causal_offset - key < p.window);
          if (!visible) s[nt][e] = -INFINITY;
        }
    }

#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < kKeys / 8; ++nt) tile_max = fmaxf(tile_max, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      float new_max = fmaxf(row_max[i], tile_max * scale_log2);
      // A row with no visible key yet keeps max -inf; subtract 0 then, not -inf (NaN).
      float base = new_max == -INFINITY ? 0.f : new_max;
      float correction = exp2f(row_max[i] - base);
      row_max[i] = new_max;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < kKeys / 8; ++nt) {
        float p0 = exp2f(s[nt][2 * i] * scale_log2 - base);
        float p1 = exp2f(s[nt][2 * i + 1] * scale_log2 - base);
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

#pragma unroll
    for (int j = 0; j < kKeys / 16; ++j) {
      uint32_t a[4] = {pack_bf16(s[2 * j][0], s[2 * j][1]), pack_bf16(s[2 * j][2], s[2 * j][3]),
                       pack_bf16(s[2 * j + 1][0], s[2 * j + 1][1]), pack_bf16(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
      for (int dt2 = 0; dt2 < D / 16; ++dt2) {
        uint32_t b[4];
        int key = j * 16 + ((lane / 8) % 2) * 8 + lane % 8;
        ldmatrix_x4_trans(b, v_tile + swizzled<D>(key, dt2 * 2 + lane / 16));
        mma_bf16(o[2 * dt2], a, b[0], b[1]);
        mma_bf16(o[2 * dt2 + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // the next prefetch overwrites the buffer just read
  }
  if (num_tiles == 0) cp_async_wait<0>();

#pragma unroll
  for (int i = 0; i < 2; ++i) {
    float sum = row_sum[i];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    int64_t r = r0 + row_in_tile[i];
    if (r >= total_rows) continue;
    int64_t t = r / group;
    int head = kv_head * group + int(r % group);
    bool saw_keys = sum > 0.f;
    float inv = saw_keys ? 1.f / sum : 0.f;
    float lse = saw_keys ? (row_max[i] + log2f(sum)) * 0.6931471805599453f : -INFINITY;
    int64_t row_index = t * p.num_heads + head;
    if (p.num_splits > 1) {
      float* dst = p.partial_out + (int64_t(split) * p.q_len * p.num_heads + row_index) * D;
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt)
        *reinterpret_cast<float2*>(dst + dt * 8 + (lane % 4) * 2) = make_float2(o[dt][2 * i] * inv, o[dt][2 * i + 1] * inv);
      if (lane % 4 == 0) p.partial_lse[int64_t(split) * p.q_len * p.num_heads + row_index] = lse;
    } else {
      __nv_bfloat16* dst = p.out + row_index * D;
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt)
        *reinterpret_cast<__nv_bfloat162*>(dst + dt * 8 + (lane % 4) * 2) =
            __floats2bfloat162_rn(o[dt][2 * i] * inv, o[dt][2 * i + 1] * inv);
      if (lane % 4 == 0) p.lse[row_index] = lse;
    }
  }
}

// Merges the splits of one (token, head) row per warp: the n-way form of the
// log-sum-exp rule of kernels/lse_merge.h (weights exp(lse_s - max) / sum,
// lse = max + log(sum)), exact because the splits' key ranges are disjoint.
// Weights are computed once per row, not per element.
__global__ void split_combine_kernel(const FlashAttentionParams p) {
  extern __shared__ float split_weights[];  // [warps][num_splits]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t rows = p.q_len * p.num_heads;
  const int64_t row = blockIdx.x * int64_t(blockDim.x / 32) + warp;
  if (row >= rows) return;  // whole warps leave together
  float* weights = split_weights + warp * p.num_splits;
  float max_lse = -INFINITY;
  for (int s = lane; s < p.num_splits; s += 32) max_lse = fmaxf(max_lse, p.partial_lse[s * rows + row]);
  for (int offset = 16; offset > 0; offset >>= 1) max_lse = fmaxf(max_lse, __shfl_xor_sync(0xffffffffu, max_lse, offset));
  __nv_bfloat16* dst = p.out + row * p.head_dim;
  if (max_lse == -INFINITY) {  // no split saw a key
    for (int d = lane; d < p.head_dim; d += 32) dst[d] = __float2bfloat16(0.f);
    if (lane == 0) p.lse[row] = -INFINITY;
    return;
  }
  float total = 0.f;
  for (int s = lane; s < p.num_splits; s += 32) {
    float w = expf(p.partial_lse[s * rows + row] - max_lse);  // 0 for a split that saw no key
    weights[s] = w;
    total += w;
  }
  for (int offset = 16; offset > 0; offset >>= 1) total += __shfl_xor_sync(0xffffffffu, total, offset);
  __syncwarp();
  const float inv_total = 1.f / total;
  for (int d = lane; d < p.head_dim; d += 32) {
    float acc = 0.f;
    for (int s = 0; s < p.num_splits; ++s)
      if (weights[s] > 0.f) acc += weights[s] * p.partial_out[(s * rows + row) * p.head_dim + d];
    dst[d] = __float2bfloat16(acc * inv_total);
  }
  if (lane == 0) p.lse[row] = max_lse + logf(total);
}

template <int D>
void launch_for_dim(const FlashAttentionParams& p, cudaStream_t stream) {
  constexpr size_t smem = size_t(kRows + 4 * kKeys) * D * sizeof(__nv_bfloat16);
  static bool configured = false;  // per device is enough: one rank per GPU
  if (!configured) {
    cudaFuncSetAttribute(flash_forward_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    configured = true;
  }
  int64_t group = p.num_heads / p.num_kv_heads;
  dim3 grid(unsigned((p.q_len * group + kRows - 1) / kRows), unsigned(p.num_kv_heads), unsigned(p.num_splits));
  flash_forward_kernel<D><<<grid, kThreads, smem, stream>>>(p);
}

}  // namespace

void launch_flash_attention(const FlashAttentionParams& p, cudaStream_t stream) {
  if (p.q_len <= 0) return;
  if (p.head_dim == 128)
    launch_for_dim<128>(p, stream);
  else if (p.head_dim == 64)
    launch_for_dim<64>(p, stream);
  else
    launch_for_dim<32>(p, stream);  // the tiny test models
  if (p.num_splits > 1) {
    constexpr int warps = 8;
    int64_t rows = p.q_len * p.num_heads;
    size_t smem = size_t(warps) * size_t(p.num_splits) * sizeof(float);
    split_combine_kernel<<<unsigned((rows + warps - 1) / warps), warps * 32, smem, stream>>>(p);
  }
}

}  // namespace sb::kernels
