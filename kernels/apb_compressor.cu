#include "kernels/apb_compressor.cuh"

#include <algorithm>

#include <cuda_bf16.h>

namespace sb::kernels {
namespace {

__device__ float widen(float x) { return x; }
__device__ float widen(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T>
__device__ T narrow(float x);
template <>
__device__ float narrow<float>(float x) { return x; }
template <>
__device__ __nv_bfloat16 narrow<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

unsigned grid_for(int64_t count, int threads) {
  return unsigned(std::min<int64_t>((count + threads - 1) / threads, 65535));
}

template <typename T>
__global__ void silu_kernel(T* x, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = widen(x[i]);
    x[i] = narrow<T>(v / (1.0f + expf(-v)));  // the cpu backend's expression
  }
}

// One thread per output element; neighbouring threads read neighbouring columns.
template <typename T>
__global__ void max_pool_rows_kernel(const T* x, int64_t rows, int64_t columns, int64_t radius, T* out) {
  const int64_t count = rows * columns;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / columns, c = i % columns;
    const int64_t first = t - radius < 0 ? 0 : t - radius, last = t + radius >= rows ? rows - 1 : t + radius;
    float best = -INFINITY;
    for (int64_t u = first; u <= last; ++u) best = fmaxf(best, widen(x[u * columns + c]));
    out[i] = narrow<T>(best);
  }
}

}  // namespace

void launch_silu(void* x, bool bf16, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  const int threads = 256;
  if (bf16)
    silu_kernel<<<grid_for(count, threads), threads, 0, stream>>>(static_cast<__nv_bfloat16*>(x), count);
  else
    silu_kernel<<<grid_for(count, threads), threads, 0, stream>>>(static_cast<float*>(x), count);
}

void launch_max_pool_rows(const void* x, bool bf16, int64_t rows, int64_t columns, int64_t radius, void* out,
                          cudaStream_t stream) {
  const int64_t count = rows * columns;
  if (count <= 0) return;
  const int threads = 256;
  if (bf16)
    max_pool_rows_kernel<<<grid_for(count, threads), threads, 0, stream>>>(
        static_cast<const __nv_bfloat16*>(x), rows, columns, radius, static_cast<__nv_bfloat16*>(out));
  else
    max_pool_rows_kernel<<<grid_for(count, threads), threads, 0, stream>>>(static_cast<const float*>(x), rows,
                                                                            columns, radius, static_cast<float*>(out));
}

}  // namespace sb::kernels
