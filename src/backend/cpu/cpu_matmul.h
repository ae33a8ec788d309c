#pragma once
// out[t, n] = x[t, :] . w[n, :] over host fp32 arrays (linear layers in HF
// layout), multithreaded with OpenMP.
#include <cstdint>

namespace sb::cpu {

void matmul(const float* x, const float* w, float* out, int64_t tokens, int64_t out_features, int64_t in_features,
            bool accumulate);

}  // namespace sb::cpu
