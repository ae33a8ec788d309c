// The memory-bound kernels of the cuda backend: fp32 arithmetic on bf16
// storage. Hot ones (swiglu, conversions) move 16 bytes per access when
// the pointers allow it.
#include <cfloat>
#include <cmath>

#include "kernels/elementwise.cuh"
#include "kernels/lse_merge.h"
#include "kernels/synthetic.cuh"

namespace sb::kernels {
namespace {

constexpr int kThreads = 256;

inline unsigned grid_for(int64_t work, int per_thread = 1) {
  int64_t blocks = (work + int64_t(kThreads) * per_thread - 1) / (int64_t(kThreads) * per_thread);
  if (blocks < 1) blocks = 1;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;  // grid-stride loops cover the rest
  return unsigned(blocks);
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

__device__ inline float silu(float g) { return g / (1.f + __expf(-g)); }

// ---- elementwise binary ops, 8 bf16 per access on the fast path ------------------
struct SwigluOp {
  __device__ float operator()(float g, float u) const { return silu(g) * u; }
};

template <typename Op>
__global__ void binary_scalar_kernel(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* out,
                                     int64_t count, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16(op(__bfloat162float(a[i]), __bfloat162float(b[i])));
}

template <typename Op>
__global__ void binary_vec8_kernel(const uint4* a, const uint4* b, uint4* out, int64_t vectors, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < vectors;
       i += int64_t(gridDim.x) * blockDim.x) {
    uint4 va = a[i], vb = b[i], vo;
    const __nv_bfloat162* pa = reinterpret_cast<const __nv_bfloat162*>(&va);
    const __nv_bfloat162* pb = reinterpret_cast<const __nv_bfloat162*>(&vb);
    __nv_bfloat162* po = reinterpret_cast<__nv_bfloat162*>(&vo);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float2 fa = __bfloat1622float2(pa[j]), fb = __bfloat1622float2(pb[j]);
      po[j] = __floats2bfloat162_rn(op(fa.x, fb.x), op(fa.y, fb.y));
    }
    out[i] = vo;
  }
}

template <typename Op>
void launch_binary(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* out, int64_t count, Op op,
                   cudaStream_t stream) {
  if (count <= 0) return;
  if (count % 8 == 0 && aligned16(a) && aligned16(b) && aligned16(out)) {
    int64_t vectors = count / 8;
    binary_vec8_kernel<<<grid_for(vectors, 4), kThreads, 0, stream>>>(
        reinterpret_cast<const uint4*>(a), reinterpret_cast<const uint4*>(b), reinterpret_cast<uint4*>(out),
        vectors, op);
  } else {
    binary_scalar_kernel<<<grid_for(count, 4), kThreads, 0, stream>>>(a, b, out, count, op);
  }
}

// ---- embedding ----------------------------------------------------------------------
__global__ void embedding_kernel(const __nv_bfloat16* table, int64_t vocab, int64_t hidden, const int32_t* tokens,
                                 __nv_bfloat16* out, int* error_flag) {
  int64_t t = blockIdx.x;
  int32_t token = tokens[t];
  bool valid = token >= 0 && token < vocab;
  if (!valid && threadIdx.x == 0) atomicOr(error_flag, 1);
  const __nv_bfloat16* src = table + (valid ? int64_t(token) : 0) * hidden;
  __nv_bfloat16* dst = out + t * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x)
    dst[i] = valid ? src[i] : __float2bfloat16(NAN);
}

// ---- RMSNorm: one block per row, fp32 sum of squares ---------------------------------
__device__ float block_sum(float value, float* scratch) {
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < int(blockDim.x / 32) ? scratch[lane] : 0.f;
    for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(0xffffffffu, value, offset);
    if (lane == 0) scratch[0] = value;
  }
  __syncthreads();
  return scratch[0];
}

__global__ void rmsnorm_kernel(const __nv_bfloat16* x, const __nv_bfloat16* weight, int64_t hidden, float eps,
                               __nv_bfloat16* out) {
  __shared__ float scratch[32];
  const __nv_bfloat16* row = x + blockIdx.x * hidden;
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = __bfloat162float(row[i]);
    sum += v * v;
  }
  float inv_rms = rsqrtf(block_sum(sum, scratch) / float(hidden) + eps);
  __nv_bfloat16* dst = out + blockIdx.x * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x)
    dst[i] = __float2bfloat16(__bfloat162float(row[i]) * inv_rms * __bfloat162float(weight[i]));
}

// ---- RoPE: one block per token; angles in double, shared by all heads ----------------
__global__ void rope_kernel(__nv_bfloat16* x, int64_t heads, int64_t head_dim, const int32_t* positions,
                            const double* inv_freq) {
  extern __shared__ float cos_sin[];  // [half] cos, then [half] sin
  int64_t half = head_dim / 2;
  int64_t t = blockIdx.x;
  double position = double(positions[t]);
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    // Positions reach 1M and angles 1e6 rad: reduce in double, so the float
    // sin/cos see an angle accurate to ~1e-10 instead of ~0.06 in float.
    double angle = fmod(position * inv_freq[i], 6.283185307179586476925286766559);
    double s, c;
    sincos(angle, &s, &c);
    cos_sin[i] = float(c);
    cos_sin[half + i] = float(s);
  }
  __syncthreads();
  __nv_bfloat16* token = x + t * heads * head_dim;
  for (int64_t j = threadIdx.x; j < heads * half; j += blockDim.x) {
    int64_t h = j / half, i = j % half;
    __nv_bfloat16* v = token + h * head_dim;
    float a = __bfloat162float(v[i]), b = __bfloat162float(v[i + half]);
    float c = cos_sin[i], s = cos_sin[half + i];
    v[i] = __float2bfloat16(a * c - b * s);
    v[i + half] = __float2bfloat16(b * c + a * s);
  }
}

// ---- LSE merge: one warp per (token, head) row ---------------------------------------
__global__ void lse_merge_kernel(__nv_bfloat16* out, float* lse, const __nv_bfloat16* other_out,
                                 const float* other_lse, int64_t rows, int64_t dim) {
  int64_t row = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const LseMergeWeights w = lse_merge_weights(lse[row], other_lse[row]);
  __nv_bfloat16* o = out + row * dim;
  const __nv_bfloat16* p = other_out + row * dim;
  for (int64_t i = lane; i < dim; i += 32)
    o[i] = __float2bfloat16(lse_merge_value(w, __bfloat162float(o[i]), __bfloat162float(p[i])));
  __syncwarp();
  if (lane == 0) lse[row] = w.lse;
}

// ---- argmax over rows ----------------------------------------------------------------
__device__ inline bool argmax_better(float v, int64_t i, float best, int64_t best_i) {
  bool v_nan = v != v, b_nan = best != best;
  if (v_nan != b_nan) return v_nan;  // NaN wins, as in torch.argmax
  if (v_nan) return i < best_i;
  return v > best || (v == best && i < best_i);
}

template <typename T>
__device__ inline float to_float(T v);
template <>
__device__ inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <>
__device__ inline float to_float(float v) { return v; }

template <typename T>
__global__ void argmax_kernel(const T* logits, int64_t cols, int64_t* out) {
  __shared__ float best_values[32];
  __shared__ int64_t best_indices[32];
  const T* row = logits + blockIdx.x * cols;
  float best = -INFINITY;
  int64_t best_i = INT64_MAX;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    float v = to_float(row[i]);
    if (argmax_better(v, i, best, best_i)) best = v, best_i = i;
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    float v = __shfl_xor_sync(0xffffffffu, best, offset);
    int64_t i = __shfl_xor_sync(0xffffffffu, best_i, offset);
    if (argmax_better(v, i, best, best_i)) best = v, best_i = i;
  }
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) best_values[warp] = best, best_indices[warp] = best_i;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < int(blockDim.x / 32); ++w)
      if (argmax_better(best_values[w], best_indices[w], best, best_i)) best = best_values[w], best_i = best_indices[w];
    out[blockIdx.x] = best_i == INT64_MAX ? 0 : best_i;
  }
}

// ---- conversions and synthetic weights -----------------------------------------------
__global__ void f32_to_bf16_kernel(const float* in, __nv_bfloat16* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16_rn(in[i]);
}
__global__ void f16_to_bf16_kernel(const __half* in, __nv_bfloat16* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16_rn(__half2float(in[i]));
}
__global__ void bf16_to_f32_kernel(const __nv_bfloat16* in, float* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __bfloat162float(in[i]);
}
__global__ void synthetic_kernel(__nv_bfloat16* out, int64_t count, uint64_t seed, uint64_t first_index, float scale,
                                 float offset) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    // fmaf would round once where the CPU's a*b+c rounds twice: keep two roundings.
    out[i] = __float2bfloat16_rn(__fadd_rn(__fmul_rn(synthetic_value(seed, first_index + uint64_t(i)), scale),
                                           offset));
}

__global__ void transpose_f32_kernel(const float* in, float* out, int64_t rows, int64_t cols) {
  __shared__ float tile[32][33];
  int64_t r0 = int64_t(blockIdx.y) * 32, c0 = int64_t(blockIdx.x) * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    int64_t r = r0 + i, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[i][threadIdx.x] = in[r * cols + c];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    int64_t c = c0 + i, r = r0 + threadIdx.x;
    if (r < rows && c < cols) out[c * rows + r] = tile[threadIdx.x][i];
  }
}

}  // namespace

void launch_transpose_f32(const float* in, float* out, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  dim3 grid(unsigned((cols + 31) / 32), unsigned((rows + 31) / 32));
  transpose_f32_kernel<<<grid, dim3(32, 8), 0, stream>>>(in, out, rows, cols);
}

void launch_embedding(const __nv_bfloat16* table, int64_t vocab, int64_t hidden, const int32_t* tokens,
                      int64_t num_tokens, __nv_bfloat16* out, int* error_flag, cudaStream_t stream) {
  if (num_tokens <= 0) return;
  embedding_kernel<<<unsigned(num_tokens), kThreads, 0, stream>>>(table, vocab, hidden, tokens, out, error_flag);
}

void launch_rmsnorm(const __nv_bfloat16* x, const __nv_bfloat16* weight, int64_t rows, int64_t hidden, float eps,
                    __nv_bfloat16* out, cudaStream_t stream) {
  if (rows <= 0) return;
  rmsnorm_kernel<<<unsigned(rows), 512, 0, stream>>>(x, weight, hidden, eps, out);
}

void launch_rope(__nv_bfloat16* x, int64_t tokens, int64_t heads, int64_t head_dim, const int32_t* positions,
                 const double* inv_freq, cudaStream_t stream) {
  if (tokens <= 0) return;
  rope_kernel<<<unsigned(tokens), kThreads, size_t(head_dim) * sizeof(float), stream>>>(x, heads, head_dim, positions,
                                                                                       inv_freq);
}

void launch_swiglu(const __nv_bfloat16* gate, const __nv_bfloat16* up, __nv_bfloat16* out, int64_t count,
                   cudaStream_t stream) {
  launch_binary(gate, up, out, count, SwigluOp{}, stream);
}

void launch_lse_merge(__nv_bfloat16* out, float* lse, const __nv_bfloat16* other_out, const float* other_lse,
                      int64_t rows, int64_t dim, cudaStream_t stream) {
  if (rows <= 0) return;
  constexpr int warps = 8;
  lse_merge_kernel<<<unsigned((rows + warps - 1) / warps), warps * 32, 0, stream>>>(out, lse, other_out, other_lse,
                                                                                   rows, dim);
}

void launch_argmax_rows(const __nv_bfloat16* logits, int64_t rows, int64_t cols, int64_t* out, cudaStream_t stream) {
  if (rows <= 0) return;
  argmax_kernel<<<unsigned(rows), 1024, 0, stream>>>(logits, cols, out);
}

void launch_argmax_rows_f32(const float* logits, int64_t rows, int64_t cols, int64_t* out, cudaStream_t stream) {
  if (rows <= 0) return;
  argmax_kernel<<<unsigned(rows), 1024, 0, stream>>>(logits, cols, out);
}

void launch_f32_to_bf16(const float* in, __nv_bfloat16* out, int64_t count, cudaStream_t stream) {
  if (count > 0) f32_to_bf16_kernel<<<grid_for(count, 4), kThreads, 0, stream>>>(in, out, count);
}
void launch_f16_to_bf16(const __half* in, __nv_bfloat16* out, int64_t count, cudaStream_t stream) {
  if (count > 0) f16_to_bf16_kernel<<<grid_for(count, 4), kThreads, 0, stream>>>(in, out, count);
}
void launch_bf16_to_f32(const __nv_bfloat16* in, float* out, int64_t count, cudaStream_t stream) {
  if (count > 0) bf16_to_f32_kernel<<<grid_for(count, 4), kThreads, 0, stream>>>(in, out, count);
}
void launch_synthetic_bf16(__nv_bfloat16* out, int64_t count, uint64_t seed, uint64_t first_index, float scale,
                           float offset, cudaStream_t stream) {
  if (count > 0) synthetic_kernel<<<grid_for(count, 4), kThreads, 0, stream>>>(out, count, seed, first_index, scale, offset);
}

}  // namespace sb::kernels
