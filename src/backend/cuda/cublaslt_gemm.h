#pragma once
// out[T, N] (bf16) = x[T, K] (bf16) * w[N, K]^T (+ out), fp32 compute, through
// cuBLASLt. Row-major w [N, K] is column-major K x N, so cuBLASLt sees
// out^T (N x T) = op_T(w) (N x K) * x^T (K x T) with no copies.
// The heuristic's choice is cached per (shape, accumulate, alignment).
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace sb {

class CublasLtGemm {
 public:
  static constexpr size_t kWorkspaceBytes = size_t(32) << 20;

  CublasLtGemm(cudaStream_t stream, void* workspace);  // workspace: kWorkspaceBytes of device memory
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;

  void run(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* out, int64_t tokens, int64_t n,
           int64_t k, bool accumulate);

 private:
  struct Plan;
  using Key = std::tuple<int64_t, int64_t, int64_t, bool, int>;
  Plan& plan_for(int64_t tokens, int64_t n, int64_t k, bool accumulate, int alignment);

  cudaStream_t stream_;
  void* workspace_;
  cublasLtHandle_t handle_ = nullptr;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace sb
