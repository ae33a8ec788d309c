#include "backend/cpu/cpu_gemm.h"

#include <algorithm>
#include <cstring>

namespace sb::cpu {
namespace {

// A register tile of MR x (NV vectors of W floats) accumulators, written with
// GCC vector extensions so that each target below gets a tile held in its own
// registers and the inner loop is broadcast + FMA. Rows past `rows` read the
// last valid row (results dropped); columns past `cols` must be readable
// (callers pad B).
template <int W>
using FloatVector [[gnu::vector_size(W * sizeof(float)), gnu::aligned(alignof(float))]] = float;

template <int MR, int NV, int W>
[[gnu::always_inline]] inline void tile(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                                        float* c, int64_t ldc, int rows, int cols, bool accumulate) {
  using V = FloatVector<W>;
  V acc[MR][NV];
  const float* a_row[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    a_row[i] = a + std::min(i, rows - 1) * lda;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};
  }
  for (int64_t p = 0; p < k; ++p) {
    const float* b_row = b + p * ldb;
    V b_vec[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) std::memcpy(&b_vec[v], b_row + v * W, sizeof(V));
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const float a_value = a_row[i][p];
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] += a_value * b_vec[v];
    }
  }
  float out[MR][NV * W];
  std::memcpy(out, acc, sizeof out);
  for (int i = 0; i < rows; ++i) {
    float* c_row = c + i * ldc;
    if (accumulate) {
      for (int j = 0; j < cols; ++j) c_row[j] += out[i][j];
    } else {
      for (int j = 0; j < cols; ++j) c_row[j] = out[i][j];
    }
  }
}

template <int MR, int NV, int W>
[[gnu::always_inline]] inline void gemm_tiles(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                              const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  constexpr int NR = NV * W;
  // B's last partial panel is copied into a zero-padded strip so the tile can
  // always read NR columns.
  float edge[256 * NR];
  for (int64_t j0 = 0; j0 < n; j0 += NR) {
    const int cols = int(std::min<int64_t>(NR, n - j0));
    for (int64_t p0 = 0; p0 < k; p0 += 256) {
      const int64_t kc = std::min<int64_t>(256, k - p0);
      const float* b_panel = b + p0 * ldb + j0;
      int64_t b_stride = ldb;
      if (cols < NR) {
        for (int64_t p = 0; p < kc; ++p) {
          std::memcpy(edge + p * NR, b_panel + p * ldb, sizeof(float) * size_t(cols));
          std::fill(edge + p * NR + cols, edge + (p + 1) * NR, 0.f);
        }
        b_panel = edge;
        b_stride = NR;
      }
      const bool add = accumulate || p0 > 0;
      for (int64_t i0 = 0; i0 < m; i0 += MR) {
        const int rows = int(std::min<int64_t>(MR, m - i0));
        tile<MR, NV, W>(kc, a + i0 * lda + p0, lda, b_panel, b_stride, c + i0 * ldc + j0, ldc, rows, cols, add);
      }
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// 8 x 32 = 16 zmm accumulators (of 32); 6 x 16 = 12 ymm (of 16).
[[gnu::target("avx512f,avx512vl,avx2,fma")]] void gemm_avx512(int64_t m, int64_t n, int64_t k, const float* a,
                                                               int64_t lda, const float* b, int64_t ldb, float* c,
                                                               int64_t ldc, bool accumulate) {
  gemm_tiles<8, 2, 16>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
[[gnu::target("avx2,fma")]] void gemm_avx2(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                           const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  gemm_tiles<6, 2, 8>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}
#endif

void gemm_portable(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                   float* c, int64_t ldc, bool accumulate) {
  gemm_tiles<4, 2, 4>(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

using GemmFunction = void (*)(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*,
                              int64_t, bool);

GemmFunction function_of(GemmIsa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == GemmIsa::Avx512) return gemm_avx512;
  if (isa == GemmIsa::Avx2) return gemm_avx2;
#endif
  return isa == GemmIsa::Portable ? gemm_portable : nullptr;
}

}  // namespace

bool gemm_isa_supported(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::Portable: return true;
#if defined(__x86_64__) && defined(__GNUC__)
    case GemmIsa::Avx512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    case GemmIsa::Avx2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return false;
  }
}

GemmIsa best_gemm_isa() {
  for (GemmIsa isa : {GemmIsa::Avx512, GemmIsa::Avx2}) {
    if (gemm_isa_supported(isa)) return isa;
  }
  return GemmIsa::Portable;
}

void gemm_with(GemmIsa isa, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    }
    return;
  }
  function_of(isa)(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
          int64_t ldc, bool accumulate) {
  static const GemmIsa best = best_gemm_isa();
  gemm_with(best, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

}  // namespace sb::cpu
