#include "kernels/synthetic_slice.cuh"

#include <algorithm>

#include "kernels/synthetic.cuh"

namespace sb::kernels {
namespace {

__global__ void synthetic_slice_kernel(__nv_bfloat16* out, int64_t rows, int64_t columns, uint64_t seed,
                                       uint64_t first_index, int64_t row_stride, float scale, float offset) {
  const int64_t count = rows * columns;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t index = first_index + uint64_t((i / columns) * row_stride + i % columns);
    // Two roundings, as the CPU's a * b + c (see synthetic_kernel).
    out[i] = __float2bfloat16_rn(__fadd_rn(__fmul_rn(synthetic_value(seed, index), scale), offset));
  }
}

}  // namespace

void launch_synthetic_slice_bf16(__nv_bfloat16* out, int64_t rows, int64_t columns, uint64_t seed,
                                 uint64_t first_index, int64_t row_stride, float scale, float offset,
                                 cudaStream_t stream) {
  const int64_t count = rows * columns;
  if (count <= 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((count + kThreads * 4 - 1) / (kThreads * 4), 65535 * 8);
  synthetic_slice_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(out, rows, columns, seed, first_index, row_stride,
                                                                    scale, offset);
}

}  // namespace sb::kernels
