#pragma once
// The fp32 reference backend: host memory, fp32 storage and fp32 accumulation,
// OpenMP across cores. Every other backend and every attention method is
// checked against it.
#include <atomic>
#include <memory>

#include "backend/backend.h"

namespace sb {

class CpuBackend : public Backend {
 public:
  CpuBackend();

  std::string name() const override { return "cpu"; }
  DType act_dtype() const override { return DType::F32; }
  std::string device_name() const override;

  Tensor empty(DType dtype, std::vector<int64_t> shape) override;
  Tensor upload(const WeightSpec& spec) override;
  Tensor from_host(DType dtype, std::vector<int64_t> shape, const void* host_data) override;
  std::vector<float> to_host_f32(const Tensor& tensor) override;
  void copy_rows(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows) override;
  void copy_heads(Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src, int64_t src_row,
                  int64_t src_head, int64_t num_rows, int64_t num_heads) override;
  void copy_from_host(Tensor& dst, const void* host_data) override;
  void write_rows_at(Tensor& dst, const Tensor& src, const RowSlots& slots, const std::vector<int64_t>& dst_heads,
                     const std::vector<int64_t>& src_heads) override;
  size_t bytes_in_use() const override;
  size_t peak_bytes() const override;
  void reset_peak() override;
  size_t memory_capacity_bytes() const override;

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
  // APB's ops (cpu_apb_ops.cpp): F32 and BF16, the defaults' results.
  void silu(Tensor& x) override;
  void max_pool_rows(const Tensor& x, int64_t radius, Tensor& out) override;
  void top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices) override;
  void gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst) override;

  void synchronize() override {}  // every op has finished when it returns
  std::unique_ptr<PhaseTimer> make_timer() override;

  // Shared with the deleters of live tensors, which may outlive the backend.
  struct MemoryCounter {
    std::atomic<size_t> in_use{0};
    std::atomic<size_t> peak{0};
  };

 private:
  std::shared_ptr<MemoryCounter> memory_;
  std::vector<double> inverse_frequencies_;
};

}  // namespace sb
