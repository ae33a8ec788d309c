#include "backend/cpu/cpu_matmul.h"

#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_gemm.h"

namespace sb::cpu {
namespace {

// w^T is packed one [kBlockK, kBlockN] block at a time (512 KiB, L2-sized) and
// shared by every thread; the threads then split the block's output into
// [kTaskRows, kTaskCols] tasks.
constexpr int64_t kBlockK = 256;
constexpr int64_t kBlockN = 512;
constexpr int64_t kTaskRows = 64;
constexpr int64_t kTaskCols = 128;
// Below this many tokens packing w costs more than it saves: plain dot products.
constexpr int64_t kMinTokensForPacking = 4;

void matmul_dot(const float* x, const float* w, float* out, int64_t tokens, int64_t n, int64_t k, bool accumulate) {
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; ++j) {
    const float* w_row = w + j * k;
    for (int64_t t = 0; t < tokens; ++t) {
      const float* x_row = x + t * k;
      float sum = 0.f;
#pragma omp simd reduction(+ : sum)
      for (int64_t p = 0; p < k; ++p) sum += x_row[p] * w_row[p];
      float& result = out[t * n + j];
      result = accumulate ? result + sum : sum;
    }
  }
}

void matmul_packed(const float* x, const float* w, float* out, int64_t tokens, int64_t n, int64_t k,
                   bool accumulate) {
  std::vector<float> packed(size_t(kBlockK * kBlockN));
  float* w_t = packed.data();
#pragma omp parallel
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    const int64_t cols = std::min(kBlockN, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      const int64_t depth = std::min(kBlockK, k - p0);
#pragma omp for schedule(static)
      for (int64_t j = 0; j < cols; ++j) {
        const float* src = w + (j0 + j) * k + p0;
        for (int64_t p = 0; p < depth; ++p) w_t[p * cols + j] = src[p];
      }
      const int64_t row_tasks = (tokens + kTaskRows - 1) / kTaskRows;
      const int64_t col_tasks = (cols + kTaskCols - 1) / kTaskCols;
#pragma omp for collapse(2) schedule(static)
      for (int64_t rt = 0; rt < row_tasks; ++rt) {
        for (int64_t ct = 0; ct < col_tasks; ++ct) {
          const int64_t r0 = rt * kTaskRows, c0 = ct * kTaskCols;
          gemm(std::min(kTaskRows, tokens - r0), std::min(kTaskCols, cols - c0), depth, x + r0 * k + p0, k,
               w_t + c0, cols, out + r0 * n + j0 + c0, n, accumulate || p0 > 0);
        }
      }
      // The implicit barrier above keeps w_t alive until every task used it.
    }
  }
}

}  // namespace

void matmul(const float* x, const float* w, float* out, int64_t tokens, int64_t out_features, int64_t in_features,
            bool accumulate) {
  if (tokens <= 0 || out_features <= 0) return;
  if (in_features <= 0) {
    if (!accumulate) std::fill(out, out + tokens * out_features, 0.f);
    return;
  }
  if (tokens < kMinTokensForPacking) {
    matmul_dot(x, w, out, tokens, out_features, in_features, accumulate);
  } else {
    matmul_packed(x, w, out, tokens, out_features, in_features, accumulate);
  }
}

}  // namespace sb::cpu
