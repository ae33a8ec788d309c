#pragma once
// cuDNN's fused flash attention through the backend graph API (cudnn_graph.h;
// no cudnn-frontend): the SDPA graph bmm(Q, K^T) -> scale -> causal mask ->
// softmax with stats -> bmm(P, V) is built from backend descriptors, and
// cuDNN's runtime fusion engine runs it as one kernel. Plans are cached per
// problem shape. Token-major q/k/v/out are described by strides, no copies;
// the stats (natural-log LSE of the scaled scores, cuDNN's [H, T] order) are
// transposed into our [T, H].
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <cuda_runtime_api.h>

namespace sb {

struct CudnnAttentionProblem {
  const void* q = nullptr;  // bf16 [q_len, num_heads, head_dim]
  const void* k = nullptr;  // bf16 [k_len, num_kv_heads, head_dim]
  const void* v = nullptr;
  void* out = nullptr;      // bf16 [q_len, num_heads, head_dim]
  float* lse = nullptr;     // f32 [q_len, num_heads]
  int64_t q_len = 0, k_len = 0;
  int num_heads = 0, num_kv_heads = 0, head_dim = 0;
  float scale = 1.f;
  bool causal = false;
  int64_t causal_offset = 0;  // >= 0: no row is fully masked (cuDNN masks with a finite value)
};

class CudnnAttention {
 public:
  using Allocate = std::function<std::shared_ptr<void>(size_t bytes)>;
  // Throws sb::Error when cuDNN cannot start (library missing, too old).
  CudnnAttention(cudaStream_t stream, Allocate allocate);
  ~CudnnAttention();
  CudnnAttention(const CudnnAttention&) = delete;
  CudnnAttention& operator=(const CudnnAttention&) = delete;

  // Enqueues the problem; false when cuDNN has no engine for it (the caller
  // falls back to its own kernel). Throws sb::Error on a failed execution.
  bool run(const CudnnAttentionProblem& problem);
  // Why the last unsupported problem was refused (for logs and reports).
  const std::string& last_refusal() const { return last_refusal_; }
  static std::string version_string();  // of the cuDNN library loaded at run time
  // Global index of the cuDNN engine that ran the last problem (-1 if unknown).
  int64_t last_engine() const { return last_engine_; }

 private:
  struct Plan;
  using Key = std::tuple<int64_t, int64_t, int, int, int, bool, int64_t>;
  Plan* plan_for(const CudnnAttentionProblem& problem);

  cudaStream_t stream_;
  Allocate allocate_;
  void* handle_ = nullptr;  // cudnnHandle_t
  std::map<Key, std::unique_ptr<Plan>> plans_;  // nullptr: cuDNN refused this key
  std::string last_refusal_;
  int64_t last_engine_ = -1;
};

}  // namespace sb
