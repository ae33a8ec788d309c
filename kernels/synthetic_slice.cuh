#pragma once
// Synthetic weights of a slice of a larger weight (tensor parallelism): the
// values the unsplit weight has at the slice's elements, so a split run equals
// the unsplit run to rounding.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace sb::kernels {

// out[r * columns + c] = bf16(synthetic_value(seed, first_index + r * row_stride + c) * scale + offset)
// for r < rows, c < columns.
void launch_synthetic_slice_bf16(__nv_bfloat16* out, int64_t rows, int64_t columns, uint64_t seed,
                                 uint64_t first_index, int64_t row_stride, float scale, float offset,
                                 cudaStream_t stream);

}  // namespace sb::kernels
