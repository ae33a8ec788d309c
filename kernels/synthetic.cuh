#pragma once
// Seeded synthetic weights on the device: sb::synthetic_value
// (kernels/synthetic_value.h, the one definition the cpu backend uses too),
// so CPU and CUDA synthetic weights agree up to bf16 rounding; tests/gpu
// compares them element by element.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/synthetic_value.h"

namespace sb::kernels {

// out[i] = bf16(synthetic_value(seed, first_index + i) * scale + offset), i < count.
void launch_synthetic_bf16(__nv_bfloat16* out, int64_t count, uint64_t seed, uint64_t first_index, float scale,
                           float offset, cudaStream_t stream);

}  // namespace sb::kernels
