#pragma once
// Matrix-vector products for the few rows of a decoding step: out[T, N] =
// x[T, K] w[N, K]^T with T <= kGemvMaxTokens, bf16 in and out, fp32
// accumulation. At T = 1 a matmul only streams its weight once, so the kernel
// is built for memory bandwidth: every warp keeps 16-byte loads of two weight
// rows in flight and many warps run per SM. Fusions the step needs ride along:
//   * up to three weights in one launch (q, k and v projections),
//   * RMSNorm of x in the prologue (x is small: every block normalises it in
//     shared memory, rounded to bf16 exactly as the rmsnorm kernel rounds),
//   * the residual add (out += x w^T) in the epilogue,
//   * SwiGLU of a gate/up pair (out = silu(x g^T) * (x u^T), each product
//     rounded to bf16 first, as the unfused gate/up/swiglu sequence rounds).
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace sb::kernels {

constexpr int kGemvMaxTokens = 4;
constexpr int kGemvMaxMatrices = 3;

struct GemvMatrix {
  const __nv_bfloat16* w = nullptr;  // [n, k], rows 16-byte aligned
  __nv_bfloat16* out = nullptr;      // [tokens, n]
  int64_t n = 0;
};

struct GemvParams {
  const __nv_bfloat16* x = nullptr;  // [tokens, k]
  int tokens = 0;
  int64_t k = 0;                     // a multiple of 8
  const __nv_bfloat16* norm_weight = nullptr;  // [k]: x is RMS-normalised first
  float eps = 0.f;
  GemvMatrix m[kGemvMaxMatrices];
  int count = 0;
  bool accumulate = false;  // out += x w^T (one matrix)
  bool swiglu = false;      // m[0] gate, m[1] up, same n; writes m[0].out
};

// Shared memory the launch needs (the staged, normalised x).
size_t gemv_shared_bytes(int tokens, int64_t k);
// Raises the kernels' dynamic shared-memory limit (once, before any capture).
void configure_gemv();
void launch_gemv(const GemvParams& params, cudaStream_t stream);

}  // namespace sb::kernels
