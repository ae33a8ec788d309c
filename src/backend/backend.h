#pragma once
// The arithmetic a model and the attention methods need, implemented by the
// cpu backend (fp32 reference) and the cuda backend (bf16 storage, fp32
// accumulation). Methods never know which one they run on.
//
// Conventions (all tensors row-major, token-major):
//   activations  [T, hidden] in act_dtype(); q [T, Hq, d]; k, v [T, Hkv, d]
//   linear weights HF layout [out, in]:  matmul computes out = x * w^T
//   lse          F32 [T, Hq], natural log of the softmax denominator of the
//                scaled scores; -inf for a row that saw no key (its out is 0)
//   positions    I32 [T]; tokens I32 [T]
// Ops enqueue on the backend's stream; results are ready for the host after
// synchronize() (to_host_* synchronises).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/tensor.h"
#include "model/weight_spec.h"

namespace sb {

struct AttentionMask {
  enum class Kind { None, Causal };
  Kind kind = Kind::None;
  // Causal: query row i sees key j iff j <= i + causal_offset. Offset 0 is the
  // top-left-aligned mask of a prefill; k_len - q_len is bottom-right aligned
  // (queries at the end of the keys); a negative offset hides leading keys.
  int64_t causal_offset = 0;

  static AttentionMask none() { return {Kind::None, 0}; }
  static AttentionMask causal(int64_t offset = 0) { return {Kind::Causal, offset}; }
  static AttentionMask bottom_right(int64_t q_len, int64_t k_len) { return {Kind::Causal, k_len - q_len}; }
  bool visible(int64_t query_row, int64_t key_row) const {
    return kind == Kind::None || key_row <= query_row + causal_offset;
  }
};

// Measures device time between start() and stop(): CUDA events on the cuda
// backend, a steady clock on the cpu backend.
class PhaseTimer {
 public:
  virtual ~PhaseTimer() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual double elapsed_ms() = 0;  // waits for stop() to complete
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;       // "cpu" or "cuda"
  virtual DType act_dtype() const = 0;        // F32 on cpu, BF16 on cuda
  virtual std::string device_name() const = 0;

  // --- memory -------------------------------------------------------------
  virtual Tensor empty(DType dtype, std::vector<int64_t> shape) = 0;
  // Turns a weight into the backend's storage format (act_dtype()).
  virtual Tensor upload(const WeightSpec& spec) = 0;
  // host_data holds numel elements of dtype; the tensor keeps that dtype.
  virtual Tensor from_host(DType dtype, std::vector<int64_t> shape, const void* host_data) = 0;
  virtual std::vector<float> to_host_f32(const Tensor& tensor) = 0;
  // Copies whole rows (first dimension) between tensors of the same dtype and row size.
  virtual void copy_rows(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows) = 0;
  virtual size_t bytes_in_use() const = 0;
  virtual size_t peak_bytes() const = 0;
  virtual void reset_peak() = 0;
  // Memory this rank may use (device memory free at start on cuda, physical
  // RAM on cpu); 0 when unknown. Memory plans are checked against it before
  // any large allocation.
  virtual size_t memory_capacity_bytes() const { return 0; }

  // --- ops ----------------------------------------------------------------
  virtual void embedding(const Tensor& table, const Tensor& tokens, Tensor& out) = 0;
  virtual void rmsnorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;
  // out[T, N] = x[T, K] * w[N, K]^T (+ out when accumulate).
  virtual void matmul(const Tensor& x, const Tensor& w, Tensor& out, bool accumulate = false) = 0;
  // Rotates x [T, H, d] in place, HF rotate_half convention (pairs i, i + d/2),
  // angle = positions[t] * inv_freq[i]; inv_freq from set_rope_frequencies.
  virtual void set_rope_frequencies(const std::vector<double>& inverse_frequencies) = 0;
  virtual void rope(Tensor& x, const Tensor& positions) = 0;
  // Softmax(q k^T * scale) v with GQA (query head h reads kv head h / (Hq/Hkv)).
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float scale,
                         Tensor& out, Tensor& lse) = 0;
  // (out, lse) <- merge of (out, lse) and (other_out, other_lse) by the
  // log-sum-exp rule; exact for disjoint key sets; -inf rows contribute nothing.
  virtual void lse_merge(Tensor& out, Tensor& lse, const Tensor& other_out, const Tensor& other_lse) = 0;
  virtual void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) = 0;  // silu(gate) * up
  virtual void add(Tensor& x, const Tensor& y) = 0;                             // x += y
  virtual std::vector<int64_t> argmax_rows(const Tensor& logits) = 0;

  virtual void synchronize() = 0;
  virtual std::unique_ptr<PhaseTimer> make_timer() = 0;
};

// "cpu" or "cuda"; "auto" picks cuda when built with it and a GPU is visible.
// local_rank selects the GPU.
std::unique_ptr<Backend> make_backend(const std::string& name, int local_rank);
bool cuda_backend_available();
// GPUs this process sees (0 without the cuda backend). STARBENCH_FAKE_GPUS=N
// replaces the count, so that the one-GPU-per-rank check (create_backend) can be
// tested on machines without GPUs; it makes no GPU appear.
int visible_gpu_count();

}  // namespace sb
