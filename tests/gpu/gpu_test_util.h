#pragma once
// Helpers shared by the GPU tests: random bf16 tensors whose host copy holds
// exactly the values the device sees, poisoning, and error measures.
#include <cstdint>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"

namespace sb::test {

// One backend on GPU 0 for the whole test binary (one cuBLASLt handle, one cuDNN plan cache).
CudaBackend& gpu();

// A fresh seed per call (the tests must hold on any input), printed on failure by the caller.
uint64_t fresh_seed();

struct HostBf16 {
  std::vector<float> values;    // exactly representable in bf16
  std::vector<uint16_t> bits;
};
HostBf16 random_bf16(int64_t count, std::mt19937_64& rng, float low = -1.f, float high = 1.f);

Tensor upload_bf16(Backend& backend, const HostBf16& data, std::vector<int64_t> shape);
// Filled with NaN: any element a kernel forgets to write shows up.
Tensor poisoned(Backend& backend, DType dtype, std::vector<int64_t> shape);

// ||a - b|| / ||b|| over all elements; NaN anywhere gives +inf.
double relative_error(const std::vector<float>& a, const std::vector<double>& b);

}  // namespace sb::test
