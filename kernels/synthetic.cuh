#pragma once
// Device mirror of sb::synthetic_value (src/model/weight_spec.h): the same
// integer mix, so CPU and CUDA synthetic weights agree up to bf16 rounding.
// Keep the two in lock step; tests/gpu compares them element by element.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace sb::kernels {

__host__ __device__ inline float synthetic_value_device(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return float(int64_t(z >> 40)) * (1.0f / 8388608.0f) - 1.0f;
}

// out[i] = bf16(synthetic_value(seed, first_index + i) * scale + offset), i < count.
void launch_synthetic_bf16(__nv_bfloat16* out, int64_t count, uint64_t seed, uint64_t first_index, float scale,
                           float offset, cudaStream_t stream);

}  // namespace sb::kernels
