#pragma once
// The cuda backend: bf16 storage, fp32 accumulation, one GPU per rank
// (device = local rank; more local ranks than GPUs is an error). This header stays free of CUDA
// headers so that the backend factory (compiled without the CUDA toolkit's
// include path) can include it.
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

struct CUstream_st;  // cudaStream_t
struct CUevent_st;   // cudaEvent_t

namespace sb {

std::unique_ptr<Backend> make_cuda_backend(int local_rank);
// GPUs the CUDA runtime sees (0 without a driver or device).
int cuda_device_count();
// True when the CUDA runtime sees at least one usable GPU.
bool cuda_device_present();

class DeviceAllocator;
class CublasLtGemm;
class CudnnAttention;

// Which attention implementation runs (tests and benchmarks pin one).
enum class AttentionPath { Auto, Cudnn, Flash };

// How decoding steps run (env STARBENCH_DECODE, parsed once at start):
//   Graph (default)  fused decoding kernels (GEMV, flash-decoding, fused
//                    norm/projections), each step replayed as a CUDA graph;
//   Eager            the same kernels launched op by op;
//   Legacy           the path before them (cuBLASLt at T = 1, the prefill
//                    flash kernel's split-KV, per-op launches): the baseline.
enum class DecodePath { Graph, Eager, Legacy };

// Where ops go while a step is recorded (cuda_step_replay.cpp).
enum class StepMode { Eager, Capturing, Replaying };
struct CudaStepRecording;

class CudaBackend : public Backend {
 public:
  explicit CudaBackend(int local_rank);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  DType act_dtype() const override { return DType::BF16; }
  std::string device_name() const override { return device_name_; }
  // The decoding path changes decode timings: part of every run's identity.
  std::vector<std::pair<std::string, std::string>> provenance() const override {
    return {{"decode_path", decode_path_ == DecodePath::Graph   ? "graph"
                            : decode_path_ == DecodePath::Eager ? "eager"
                                                                : "legacy"}};
  }

  Tensor empty(DType dtype, std::vector<int64_t> shape) override;
  Tensor upload(const WeightSpec& spec) override;
  Tensor from_host(DType dtype, std::vector<int64_t> shape, const void* host_data) override;
  std::vector<float> to_host_f32(const Tensor& tensor) override;
  void copy_rows(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows) override;
  void copy_heads(Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src, int64_t src_row,
                  int64_t src_head, int64_t num_rows, int64_t num_heads) override;
  void copy_head_list(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows,
                      const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads) override;
  void copy_from_host(Tensor& dst, const void* host_data) override;
  void write_rows_at(Tensor& dst, const Tensor& src, const RowSlots& slots, const std::vector<int64_t>& dst_heads,
                     const std::vector<int64_t>& src_heads) override;
  size_t bytes_in_use() const override;
  size_t peak_bytes() const override;
  void reset_peak() override;
  size_t memory_capacity_bytes() const override { return capacity_bytes_; }

  void embedding(const Tensor& table, const Tensor& tokens, Tensor& out) override;
  void rmsnorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override;
  void matmul(const Tensor& x, const Tensor& w, Tensor& out, bool accumulate = false) override;
  void set_rope_frequencies(const std::vector<double>& inverse_frequencies) override;
  void rope(Tensor& x, const Tensor& positions) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float scale, Tensor& out,
                 Tensor& lse) override;
  void lse_merge(Tensor& out, Tensor& lse, const Tensor& other_out, const Tensor& other_lse) override;
  void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) override;
  std::vector<int64_t> argmax_rows(const Tensor& logits) override;
  // APB's ops (cuda_apb_ops.cpp).
  void silu(Tensor& x) override;
  void max_pool_rows(const Tensor& x, int64_t radius, Tensor& out) override;
  void top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices) override;
  void gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst) override;

  void attention_blocks(const Tensor& q, const std::vector<KeyBlock>& blocks, const std::vector<int64_t>& q_heads,
                        float scale, Tensor& out, Tensor& lse) override;
  void rmsnorm_matmul(const Tensor& x, const Tensor& norm_weight, float eps, const std::vector<const Tensor*>& weights,
                      const std::vector<Tensor*>& outs) override;
  void rmsnorm_swiglu(const Tensor& x, const Tensor& norm_weight, float eps, const Tensor& gate_w, const Tensor& up_w,
                      Tensor& out) override;
  std::unique_ptr<StepReplay> make_step_replay() override;

  void synchronize() override;
  std::unique_ptr<PhaseTimer> make_timer() override;

  // --- cuda specifics (NcclComm, tests, benchmarks) ---
  CUstream_st* stream() const { return stream_; }
  int device() const { return device_; }
  void set_attention_path(AttentionPath path) { attention_path_ = path; }
  // The path the last attention() call took: "cudnn", "flash" or "flash-split".
  const std::string& last_attention_path() const { return last_attention_path_; }
  bool cudnn_available() const { return cudnn_ != nullptr; }
  // "cuDNN <version>, engine <index of the last run>" or "cuDNN unavailable".
  std::string cudnn_description() const;
  DecodePath decode_path() const { return decode_path_; }
  void set_decode_path(DecodePath path) { decode_path_ = path; }
  // The path the last attention_blocks() call took: "flash-decode" or "composed".
  const std::string& last_blocks_path() const { return last_blocks_path_; }

  // --- step recording (cuda_step_replay.cpp) ---
  // Every launch of a step passes here first with a hash of what the launch
  // bakes in: true = launch it (eager, or capturing; the hash is recorded),
  // false = replaying (the hash must match the capture's, else sb::Error).
  bool step_gate(const char* what, uint64_t signature);
  void begin_capture(CudaStepRecording& recording);
  void end_capture(CudaStepRecording& recording, bool failed);
  void begin_dry_run(CudaStepRecording& recording);
  void end_dry_run(CudaStepRecording& recording, bool failed);
  StepMode step_mode() const { return step_mode_; }

 private:
  void attention_flash(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float scale,
                       Tensor& out, Tensor& lse);
  void check_device_errors();
  void require_eager(const char* what) const;
  // The decode kernels' shapes (few rows, head dim 64 / 128, at most two blocks).
  bool decode_attention_fits(const Tensor& q, const std::vector<KeyBlock>& blocks,
                             const std::vector<int64_t>& q_heads) const;
  void attention_decode(const Tensor& q, const std::vector<KeyBlock>& blocks, const std::vector<int64_t>& q_heads,
                        float scale, Tensor& out, Tensor& lse);
  // The GEMV kernel covers x (T <= 4 rows, 16-byte aligned) times these weights.
  bool gemv_fits(const Tensor& x, const std::vector<const Tensor*>& weights) const;
  void upload_mapped(const WeightSpec& spec, Tensor& out);

  int device_ = 0;
  std::string device_name_;
  int sm_count_ = 0;
  size_t capacity_bytes_ = 0;
  CUstream_st* stream_ = nullptr;
  std::shared_ptr<DeviceAllocator> allocator_;
  std::shared_ptr<void> gemm_workspace_;
  std::unique_ptr<CublasLtGemm> gemm_;
  std::unique_ptr<CudnnAttention> cudnn_;
  Tensor inv_freq_;      // F64 values stored as raw bytes (I64 dtype, reinterpreted)
  Tensor error_flag_;    // I32 [1]: set by kernels on bad input (bits: 1 token, 2 KV row, 4 gathered row)
  // upload() streams mapped weights through two pinned chunks, so a large
  // checkpoint never needs a full host copy.
  void* pinned_staging_ = nullptr;
  std::shared_ptr<void> staging_device_;
  CUevent_st* staging_events_[2] = {nullptr, nullptr};
  int64_t last_vocab_ = 0;
  AttentionPath attention_path_ = AttentionPath::Auto;
  std::string last_attention_path_, last_blocks_path_;
  DecodePath decode_path_ = DecodePath::Graph;
  StepMode step_mode_ = StepMode::Eager;
  CudaStepRecording* recording_ = nullptr;
};

}  // namespace sb
