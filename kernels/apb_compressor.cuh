#pragma once
// The element-wise tail of APB's compressor (Backend::silu, max_pool_rows):
// SiLU between fc1 and fc2, then the max-pool of the scores along the rows.
// F32 or BF16 storage, f32 arithmetic; host logic lives in src/backend/cuda.
#include <cstdint>

#include <cuda_runtime_api.h>

namespace sb::kernels {

// x = x * sigmoid(x) in place over count elements; bf16: x is __nv_bfloat16, else float.
void launch_silu(void* x, bool bf16, int64_t count, cudaStream_t stream);

// out[t, c] = max of x[u, c] over u in [t - radius, t + radius] within [0, rows);
// x and out [rows, columns], not overlapping.
void launch_max_pool_rows(const void* x, bool bf16, int64_t rows, int64_t columns, int64_t radius, void* out,
                          cudaStream_t stream);

}  // namespace sb::kernels
