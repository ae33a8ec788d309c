// See gemv.cuh. One warp computes kRowsPerWarp output columns (weight rows) for
// every token: its lanes stride over K in 16-byte chunks, kUnroll chunks of
// each row loaded before any is used, then a warp reduction.
#include "kernels/gemv.cuh"

namespace sb::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerWarp = 2;  // swiglu: one gate row and its up row
constexpr int kUnroll = 8;
constexpr int64_t kMaxSharedBytes = 200 * 1024;

__device__ inline float silu(float g) { return g / (1.f + __expf(-g)); }

__device__ inline void fma8(float& acc, const uint4& w, const uint4& x) {
  const __nv_bfloat162* pw = reinterpret_cast<const __nv_bfloat162*>(&w);
  const __nv_bfloat162* px = reinterpret_cast<const __nv_bfloat162*>(&x);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    float2 fw = __bfloat1622float2(pw[j]), fx = __bfloat1622float2(px[j]);
    acc = fmaf(fw.x, fx.x, acc);
    acc = fmaf(fw.y, fx.y, acc);
  }
}

// Stages x (RMS-normalised when asked) into shared memory as bf16.
template <int T>
__device__ void stage_x(const GemvParams& p, uint4* xs) {
  const int64_t chunks = p.k / 8;
  const uint4* x = reinterpret_cast<const uint4*>(p.x);
  if (p.norm_weight == nullptr) {
    for (int64_t c = threadIdx.x; c < T * chunks; c += kThreads) xs[c] = x[c];
    __syncthreads();
    return;
  }
  __shared__ float partial[kWarps][T];
  __shared__ float inv_rms[T];
  float sum[T];
#pragma unroll
  for (int t = 0; t < T; ++t) {
    sum[t] = 0.f;
    for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
      uint4 v = x[t * chunks + c];
      const __nv_bfloat162* pv = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float2 f = __bfloat1622float2(pv[j]);
        sum[t] += f.x * f.x + f.y * f.y;
      }
    }
    for (int offset = 16; offset > 0; offset >>= 1) sum[t] += __shfl_xor_sync(0xffffffffu, sum[t], offset);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0)
#pragma unroll
    for (int t = 0; t < T; ++t) partial[warp][t] = sum[t];
  __syncthreads();
  if (threadIdx.x < T) {
    float total = 0.f;
    for (int w = 0; w < kWarps; ++w) total += partial[w][threadIdx.x];
    inv_rms[threadIdx.x] = rsqrtf(total / float(p.k) + p.eps);
  }
  __syncthreads();
  const uint4* g = reinterpret_cast<const uint4*>(p.norm_weight);
  for (int64_t c = threadIdx.x; c < T * chunks; c += kThreads) {
    const int t = int(c / chunks);
    uint4 v = x[c], wv = g[c % chunks], o;
    const __nv_bfloat162* pv = reinterpret_cast<const __nv_bfloat162*>(&v);
    const __nv_bfloat162* pg = reinterpret_cast<const __nv_bfloat162*>(&wv);
    __nv_bfloat162* po = reinterpret_cast<__nv_bfloat162*>(&o);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float2 f = __bfloat1622float2(pv[j]), fg = __bfloat1622float2(pg[j]);
      po[j] = __floats2bfloat162_rn(f.x * inv_rms[t] * fg.x, f.y * inv_rms[t] * fg.y);
    }
    xs[c] = o;
  }
  __syncthreads();
}

template <int T, bool Swiglu>
__global__ void __launch_bounds__(kThreads) gemv_kernel(const GemvParams p) {
  extern __shared__ uint4 xs[];  // [T][k / 8]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t chunks = p.k / 8;
  int64_t total = 0;
  for (int i = 0; i < p.count; ++i) total += p.m[i].n;
  if (Swiglu) total = p.m[0].n;
  const int64_t first = (int64_t(blockIdx.x) * kWarps + warp) * (Swiglu ? 1 : kRowsPerWarp);

  // The two weight rows this warp reads (and where each result goes).
  const uint4* w[kRowsPerWarp];
  __nv_bfloat16* out[kRowsPerWarp];
  int64_t n_of[kRowsPerWarp];
  bool live[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (Swiglu) {
      live[r] = first < total;
      const int64_t row = live[r] ? first : 0;
      w[r] = reinterpret_cast<const uint4*>(p.m[r].w + row * p.k);
      out[r] = p.m[0].out + row;
      n_of[r] = p.m[0].n;
    } else {
      int64_t row = first + r;
      live[r] = row < total;
      if (!live[r]) row = 0;
      int i = 0;
      while (i + 1 < p.count && row >= p.m[i].n) row -= p.m[i++].n;
      w[r] = reinterpret_cast<const uint4*>(p.m[i].w + row * p.k);
      out[r] = p.m[i].out + row;
      n_of[r] = p.m[i].n;
    }
  }
  float acc[kRowsPerWarp][T];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
    for (int t = 0; t < T; ++t) acc[r][t] = 0.f;

  // The first batch of weight loads is issued before x is staged, so the
  // staging (and the norm's reduction) hides under their latency.
  uint4 wv[kRowsPerWarp][kUnroll];
  auto load_batch = [&](int64_t base) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = base + u * 32 + lane;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r)
        wv[r][u] = (c < chunks && live[r]) ? __ldcs(w[r] + c) : make_uint4(0, 0, 0, 0);
    }
  };
  load_batch(0);
  stage_x<T>(p, xs);
  if (!live[0]) return;  // whole warps leave together (first is per warp), after the block's barriers
  for (int64_t base = 0; base < chunks; base += 32 * kUnroll) {
    if (base > 0) load_batch(base);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = base + u * 32 + lane;
      if (c >= chunks) break;
#pragma unroll
      for (int t = 0; t < T; ++t) {
        const uint4 xv = xs[t * chunks + c];
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) fma8(acc[r][t], wv[r][u], xv);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
    for (int t = 0; t < T; ++t)
      for (int offset = 16; offset > 0; offset >>= 1) acc[r][t] += __shfl_xor_sync(0xffffffffu, acc[r][t], offset);
  if (lane != 0) return;
  if (Swiglu) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      const float g = __bfloat162float(__float2bfloat16(acc[0][t]));
      const float u = __bfloat162float(__float2bfloat16(acc[1][t]));
      out[0][t * n_of[0]] = __float2bfloat16(silu(g) * u);
    }
    return;
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (!live[r]) continue;
#pragma unroll
    for (int t = 0; t < T; ++t) {
      __nv_bfloat16* dst = out[r] + t * n_of[r];
      const float prior = p.accumulate ? __bfloat162float(*dst) : 0.f;
      *dst = __float2bfloat16(acc[r][t] + prior);
    }
  }
}

template <int T>
void launch_tokens(const GemvParams& p, cudaStream_t stream) {
  int64_t rows = 0;
  for (int i = 0; i < p.count; ++i) rows += p.m[i].n;
  const int per_block = kWarps * (p.swiglu ? 1 : kRowsPerWarp);
  if (p.swiglu) rows = p.m[0].n;
  const unsigned blocks = unsigned((rows + per_block - 1) / per_block);
  const size_t smem = gemv_shared_bytes(T, p.k);
  if (p.swiglu)
    gemv_kernel<T, true><<<blocks, kThreads, smem, stream>>>(p);
  else
    gemv_kernel<T, false><<<blocks, kThreads, smem, stream>>>(p);
}

template <int T>
void configure_tokens() {
  cudaFuncSetAttribute(gemv_kernel<T, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kMaxSharedBytes));
  cudaFuncSetAttribute(gemv_kernel<T, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kMaxSharedBytes));
}

}  // namespace

size_t gemv_shared_bytes(int tokens, int64_t k) { return size_t(tokens) * size_t(k) * 2; }

void configure_gemv() {
  configure_tokens<1>();
  configure_tokens<2>();
  configure_tokens<3>();
  configure_tokens<4>();
}

void launch_gemv(const GemvParams& p, cudaStream_t stream) {
  switch (p.tokens) {
    case 1: launch_tokens<1>(p, stream); break;
    case 2: launch_tokens<2>(p, stream); break;
    case 3: launch_tokens<3>(p, stream); break;
    default: launch_tokens<4>(p, stream); break;
  }
}

}  // namespace sb::kernels
