#include "backend/cuda/cublaslt_gemm.h"

#include <algorithm>

#include "backend/cuda/check_cuda.h"

namespace sb {

struct CublasLtGemm::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

CublasLtGemm::CublasLtGemm(cudaStream_t stream, void* workspace) : stream_(stream), workspace_(workspace) {
  CUBLAS_CHECK(cublasLtCreate(&handle_));
}

CublasLtGemm::~CublasLtGemm() {
  plans_.clear();
  if (handle_) cublasLtDestroy(handle_);
}

static int pointer_alignment(const void* p) {
  auto bits = reinterpret_cast<uintptr_t>(p);
  int alignment = 256;
  while (alignment > 2 && bits % alignment != 0) alignment /= 2;
  return alignment;
}

CublasLtGemm::Plan& CublasLtGemm::plan_for(int64_t tokens, int64_t n, int64_t k, bool accumulate, int alignment) {
  Key key{tokens, n, k, accumulate, alignment};
  auto found = plans_.find(key);
  if (found != plans_.end()) return *found->second;

  auto plan = std::make_unique<Plan>();
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof transpose));
  CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &no_transpose, sizeof no_transpose));
  // A = w: column-major K x N (ld K), used transposed; B = x: column-major K x T; C = out: N x T.
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16BF, uint64_t(k), uint64_t(n), k));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16BF, uint64_t(k), uint64_t(tokens), k));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, CUDA_R_16BF, uint64_t(n), uint64_t(tokens), n));

  cublasLtMatmulPreference_t preference = nullptr;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
  size_t workspace_bytes = kWorkspaceBytes;
  uint32_t align = uint32_t(alignment);
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &workspace_bytes, sizeof workspace_bytes));
  for (auto attribute : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                         CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &align, sizeof align));
  cublasLtMatmulHeuristicResult_t result{};
  int found_count = 0;
  cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle_, plan->op, plan->a, plan->b, plan->c, plan->c,
                                                         preference, 1, &result, &found_count);
  cublasLtMatmulPreferenceDestroy(preference);
  CUBLAS_CHECK(status);
  SB_REQUIRE(found_count > 0, "rank {}: cuBLASLt has no bf16 algorithm for out[{}, {}] = x[{}, {}] * w[{}, {}]^T",
             current_rank(), tokens, n, tokens, k, n, k);
  plan->algo = result.algo;
  return *plans_.emplace(key, std::move(plan)).first->second;
}

void CublasLtGemm::run(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* out, int64_t tokens, int64_t n,
                       int64_t k, bool accumulate) {
  if (tokens == 0 || n == 0) return;
  int alignment = std::min({pointer_alignment(x), pointer_alignment(w), pointer_alignment(out)});
  // A leading dimension that is not a multiple of 8 elements breaks 16-byte alignment of later rows.
  if (k % 8 != 0 || n % 8 != 0) alignment = std::min(alignment, 2);
  Plan& plan = plan_for(tokens, n, k, accumulate, alignment);
  float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
  CUBLAS_CHECK(cublasLtMatmul(handle_, plan.op, &alpha, w, plan.a, x, plan.b, &beta, out, plan.c, out, plan.c,
                              &plan.algo, workspace_, kWorkspaceBytes, stream_));
}

}  // namespace sb
