#pragma once
// The simulator's backend: shape-only tensors, each operation charged the time
// the hardware profile gives it as a SimGrid execution on the rank's host, and
// every allocation counted (the same rounding as the cuda backend's allocator)
// for the peak. The methods, the model and the runner call it exactly as they
// call the cpu and cuda backends.
//
// Compute of one rank is sequential (one stream), so consecutive operations
// are charged together: their time accumulates and is executed when the rank
// next synchronises (a transfer, a barrier, a timer). While a transfer of the
// rank is in flight, compute runs slower by the profile's measured overlap
// slowdown; once it has arrived, at full speed again.
#include <functional>
#include <memory>
#include <vector>

#include <simgrid/s4u/Activity.hpp>

#include "backend/backend.h"
#include "costmodel/hardware_profile.h"

namespace sb::sim {

class SimBackend : public Backend {
 public:
  // provenance: the text attributes every simulated run records (platform,
  // hardware profile, GPUs per node); input_digests: their files' content digests.
  SimBackend(const HardwareProfile& profile, std::vector<std::pair<std::string, std::string>> provenance,
             std::vector<std::pair<std::string, std::string>> input_digests = {});

  std::string name() const override { return "sim"; }
  DType act_dtype() const override { return DType::BF16; }
  std::string device_name() const override { return profile_.gpu + " (simulated)"; }
  bool computes_values() const override { return false; }
  std::vector<std::pair<std::string, std::string>> provenance() const override { return provenance_; }
  std::vector<std::pair<std::string, std::string>> input_digests() const override { return input_digests_; }

  Tensor empty(DType dtype, std::vector<int64_t> shape) override;
  Tensor upload(const WeightSpec& spec) override;
  Tensor from_host(DType dtype, std::vector<int64_t> shape, const void* host_data) override;
  std::vector<float> to_host_f32(const Tensor& tensor) override;
  void copy_rows(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows) override;
  void copy_heads(Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src, int64_t src_row,
                  int64_t src_head, int64_t num_rows, int64_t num_heads) override;
  // One copy, as the cuda backend's single kernel.
  void copy_head_list(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows,
                      const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads) override;
  void copy_from_host(Tensor& dst, const void* host_data) override;
  void write_rows_at(Tensor& dst, const Tensor& src, const RowSlots& slots, const std::vector<int64_t>& dst_heads,
                     const std::vector<int64_t>& src_heads) override;
  // The fused ops (attention_blocks, rmsnorm_matmul, rmsnorm_swiglu) are charged
  // as the ops they fuse (Backend's composed defaults): an upper bound of the
  // cuda backend's fused decoding kernels until the profile measures them.
  size_t bytes_in_use() const override;
  size_t peak_bytes() const override;
  void reset_peak() override;
  size_t memory_capacity_bytes() const override { return size_t(profile_.memory_bytes); }

  void embedding(const Tensor& table, const Tensor& tokens, Tensor& out) override;
  void rmsnorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override;
  void matmul(const Tensor& x, const Tensor& w, Tensor& out, bool accumulate = false) override;
  void set_rope_frequencies(const std::vector<double>&) override {}
  void rope(Tensor& x, const Tensor& positions) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float scale, Tensor& out,
                 Tensor& lse) override;
  void lse_merge(Tensor& out, Tensor& lse, const Tensor& other_out, const Tensor& other_lse) override;
  void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) override;
  std::vector<int64_t> argmax_rows(const Tensor& logits) override;
  // APB's ops, memory-bound, under measured classes (op_bytes.h gives the
  // bytes each moves): silu as swiglu (the same element-wise sigmoid kernel),
  // max_pool_rows, top_k_rows and gather_head_rows as copies.
  void silu(Tensor& x) override;
  void max_pool_rows(const Tensor& x, int64_t radius, Tensor& out) override;
  void top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices) override;
  void gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst) override;

  void synchronize() override { flush(); }
  std::unique_ptr<PhaseTimer> make_timer() override;

  // Executes the compute charged so far (blocks the calling actor for it).
  void flush();
  // The comm hands the backend the rank's transfers still in flight: compute is
  // slowed while one of them runs, and only then.
  using TransferProbe = std::function<std::vector<simgrid::s4u::ActivityPtr>()>;
  void set_transfer_probe(TransferProbe probe) { transfers_in_flight_ = std::move(probe); }
  bool has_transfer_probe() const { return bool(transfers_in_flight_); }
  const HardwareProfile& profile() const { return profile_; }

  struct MemoryCounter {
    size_t in_use = 0, peak = 0;
  };

 private:
  void charge(double seconds) { pending_seconds_ += seconds; }
  Tensor make_tensor(DType dtype, std::vector<int64_t> shape);

  const HardwareProfile& profile_;
  std::vector<std::pair<std::string, std::string>> provenance_;
  std::vector<std::pair<std::string, std::string>> input_digests_;
  std::shared_ptr<MemoryCounter> memory_;
  double pending_seconds_ = 0;
  TransferProbe transfers_in_flight_;
};

}  // namespace sb::sim
