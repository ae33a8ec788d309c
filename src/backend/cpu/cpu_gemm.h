#pragma once
// The one fp32 matrix kernel of the cpu backend: C (+)= A * B on row-major
// strided operands. matmul, attention scores and attention * V are all this
// shape once the right operand is laid out with its columns contiguous.
#include <cstdint>

namespace sb::cpu {

// C[m, n] = A[m, k] * B[k, n] (+ C when accumulate). Single-threaded; callers
// split the work. Each element sums over k in a fixed order, so a result never
// depends on how the caller split rows or columns among threads.
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
          int64_t ldc, bool accumulate);

// Instruction sets the kernel is compiled for; the best one the CPU supports
// is picked at run time, so one binary is fast on any x86-64 and still builds
// elsewhere (Portable: plain C++ vectors).
enum class GemmIsa { Avx512, Avx2, Portable };
bool gemm_isa_supported(GemmIsa isa);
GemmIsa best_gemm_isa();
// gemm() on a given instruction set (tests compare all of them); isa must be supported.
void gemm_with(GemmIsa isa, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace sb::cpu
