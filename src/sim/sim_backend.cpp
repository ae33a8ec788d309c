#include "sim/sim_backend.h"

#include <simgrid/s4u.hpp>

#include "backend/apb_op_checks.h"
#include "backend/device_block_size.h"
#include "backend/head_copy.h"
#include "costmodel/op_bytes.h"
#include "util/error.h"

namespace sb::sim {
namespace sg4 = simgrid::s4u;

namespace {

// Never read or written: simulated tensors have a shape, not values.
char shape_only_storage[64];

constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;  // CublasLtGemm::kWorkspaceBytes

class SimTimer : public PhaseTimer {
 public:
  explicit SimTimer(SimBackend& backend) : backend_(backend) {}
  void start() override {
    backend_.flush();
    start_ = sg4::Engine::get_clock();
  }
  void stop() override {
    backend_.flush();
    stop_ = sg4::Engine::get_clock();
  }
  double elapsed_ms() override { return (stop_ - start_) * 1e3; }

 private:
  SimBackend& backend_;
  double start_ = 0, stop_ = 0;
};

}  // namespace

SimBackend::SimBackend(const HardwareProfile& profile, std::vector<std::pair<std::string, std::string>> provenance,
                       std::vector<std::pair<std::string, std::string>> input_digests)
    : profile_(profile),
      provenance_(std::move(provenance)),
      input_digests_(std::move(input_digests)),
      memory_(std::make_shared<MemoryCounter>()) {}

Tensor SimBackend::make_tensor(DType dtype, std::vector<int64_t> shape) {
  int64_t numel = 1;
  for (int64_t d : shape) {
    SB_REQUIRE(d >= 0, "sim: negative dimension in a tensor shape");
    numel *= d;
  }
  const size_t bytes = device_block_size(size_t(numel) * dtype_size(dtype));
  memory_->in_use += bytes;
  memory_->peak = std::max(memory_->peak, memory_->in_use);
  std::shared_ptr<MemoryCounter> counter = memory_;
  std::shared_ptr<void> storage(static_cast<void*>(shape_only_storage),
                                [counter, bytes](void*) { counter->in_use -= bytes; });
  return Tensor(std::move(storage), dtype, std::move(shape));
}

Tensor SimBackend::empty(DType dtype, std::vector<int64_t> shape) { return make_tensor(dtype, std::move(shape)); }

Tensor SimBackend::upload(const WeightSpec& spec) {
  SB_REQUIRE(!spec.shape.empty() && spec.numel() > 0, "weight {}: empty shape", spec.name);
  return make_tensor(DType::BF16, spec.shape);  // loading weights is not timed
}

Tensor SimBackend::from_host(DType dtype, std::vector<int64_t> shape, const void*) {
  Tensor tensor = make_tensor(dtype, std::move(shape));
  charge(profile_.elementwise_seconds(ElementwiseOp::HostToDevice, double(tensor.nbytes())));
  return tensor;
}

std::vector<float> SimBackend::to_host_f32(const Tensor& tensor) {
  charge(profile_.elementwise_seconds(ElementwiseOp::DeviceToHost, double(tensor.numel()) * 4.0));
  flush();
  return std::vector<float>(size_t(tensor.numel()), 0.0f);
}

void SimBackend::copy_rows(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows) {
  SB_REQUIRE(dst.dtype() == src.dtype() && dst.row_numel() == src.row_numel(),
             "copy_rows: {} and {} differ in dtype or row size", dst.describe(), src.describe());
  SB_REQUIRE(num_rows >= 0 && dst_row + num_rows <= dst.dim(0) && src_row + num_rows <= src.dim(0),
             "copy_rows: {} rows from row {} of {} to row {} of {} is out of range", num_rows, src_row,
             src.describe(), dst_row, dst.describe());
  if (num_rows > 0) charge(profile_.elementwise_seconds(ElementwiseOp::Copy, op_bytes::copy_rows(src, num_rows)));
}

void SimBackend::copy_heads(Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src, int64_t src_row,
                            int64_t src_head, int64_t num_rows, int64_t num_heads) {
  plan_head_copy("sim copy_heads", dst, dst_row, dst_head, src, src_row, src_head, num_rows, num_heads);
  if (num_rows > 0 && num_heads > 0) {
    charge(profile_.elementwise_seconds(ElementwiseOp::Copy, op_bytes::copy_heads(src, num_rows, num_heads)));
  }
}

void SimBackend::copy_head_list(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows,
                                const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads) {
  check_head_list("sim copy_head_list", dst, src, dst_heads, src_heads);
  if (num_rows > 0 && !dst_heads.empty()) {
    plan_head_copy("sim copy_head_list", dst, dst_row, 0, src, src_row, 0, num_rows, 1);
    charge(profile_.elementwise_seconds(ElementwiseOp::Copy,
                                        op_bytes::copy_heads(src, num_rows, int64_t(dst_heads.size()))));
  }
}

void SimBackend::copy_from_host(Tensor& dst, const void*) {
  charge(profile_.elementwise_seconds(ElementwiseOp::HostToDevice, double(dst.nbytes())));
}

// Priced as the row copies it is (the slot arithmetic is free beside them).
void SimBackend::write_rows_at(Tensor& dst, const Tensor& src, const RowSlots& slots,
                               const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads) {
  SB_REQUIRE(slots.positions.defined() && slots.positions.numel() == src.dim(0) && dst.dtype() == src.dtype(),
             "sim write_rows_at: positions for the rows of {} into {}", src.describe(), dst.describe());
  if (dst_heads.empty() && src_heads.empty()) {
    SB_REQUIRE(dst.row_numel() == src.row_numel(), "sim write_rows_at: rows of {} and {} differ", src.describe(),
               dst.describe());
    charge(profile_.elementwise_seconds(ElementwiseOp::Copy, op_bytes::copy_rows(src, src.dim(0))));
  } else {
    check_head_list("sim write_rows_at", dst, src, dst_heads, src_heads);
    charge(profile_.elementwise_seconds(ElementwiseOp::Copy,
                                        op_bytes::copy_heads(src, src.dim(0), int64_t(dst_heads.size()))));
  }
}

size_t SimBackend::bytes_in_use() const { return memory_->in_use + kCublasWorkspaceBytes; }
size_t SimBackend::peak_bytes() const { return memory_->peak + kCublasWorkspaceBytes; }
void SimBackend::reset_peak() { memory_->peak = memory_->in_use; }

void SimBackend::embedding(const Tensor&, const Tensor&, Tensor& out) {
  charge(profile_.elementwise_seconds(ElementwiseOp::Embedding, op_bytes::embedding(out)));
}

void SimBackend::rmsnorm(const Tensor& x, const Tensor&, float, Tensor&) {
  charge(profile_.elementwise_seconds(ElementwiseOp::RmsNorm, op_bytes::rmsnorm(x)));
}

void SimBackend::matmul(const Tensor& x, const Tensor& w, Tensor& out, bool) {
  SB_REQUIRE(w.rank() == 2, "sim matmul: w must be [N, K], got {}", w.describe());
  const int64_t n = w.dim(0), k = w.dim(1);
  SB_REQUIRE(x.rank() >= 1 && x.shape().back() == k, "sim matmul: x {} does not end in K = {} of w {}", x.describe(),
             k, w.describe());
  const int64_t tokens = x.numel() / std::max<int64_t>(k, 1);
  SB_REQUIRE(out.numel() == tokens * n, "sim matmul: out {} is not [{}, {}]", out.describe(), tokens, n);
  count_matmul(tokens, n, k);
  charge(profile_.matmul_seconds(tokens, n, k));
}

void SimBackend::rope(Tensor& x, const Tensor&) {
  charge(profile_.elementwise_seconds(ElementwiseOp::Rope, op_bytes::rope(x)));
}

void SimBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, AttentionMask mask, float, Tensor& out,
                           Tensor& lse) {
  SB_REQUIRE(q.rank() == 3 && k.rank() == 3 && v.shape() == k.shape(), "sim attention: q {}, k {}, v {}",
             q.describe(), k.describe(), v.describe());
  SB_REQUIRE(out.numel() == q.numel() && lse.numel() == q.dim(0) * q.dim(1), "sim attention: out {} / lse {} for q {}",
             out.describe(), lse.describe(), q.describe());
  count_attention(mask, q.dim(0), k.dim(0), q.dim(1), q.dim(2));
  charge(profile_.attention_seconds(mask, q.dim(0), k.dim(0), q.dim(1), k.dim(1), q.dim(2)));
}

void SimBackend::lse_merge(Tensor& out, Tensor& lse, const Tensor&, const Tensor&) {
  charge(profile_.elementwise_seconds(ElementwiseOp::LseMerge, op_bytes::lse_merge(out, lse)));
}

void SimBackend::swiglu(const Tensor& gate, const Tensor&, Tensor&) {
  charge(profile_.elementwise_seconds(ElementwiseOp::Swiglu, op_bytes::swiglu(gate)));
}

std::vector<int64_t> SimBackend::argmax_rows(const Tensor& logits) {
  charge(profile_.elementwise_seconds(ElementwiseOp::Argmax, op_bytes::argmax(logits)));
  flush();  // the result goes to the host
  const int64_t cols = logits.shape().back();
  return std::vector<int64_t>(size_t(logits.numel() / std::max<int64_t>(cols, 1)), 0);
}

void SimBackend::silu(Tensor& x) {
  check_apb_float(x, "sim silu");
  if (x.numel() > 0) charge(profile_.elementwise_seconds(ElementwiseOp::Swiglu, op_bytes::silu(x)));
}

void SimBackend::max_pool_rows(const Tensor& x, int64_t radius, Tensor& out) {
  check_max_pool_rows(x, radius, out);
  if (x.numel() > 0) charge(profile_.elementwise_seconds(ElementwiseOp::Copy, op_bytes::max_pool_rows(x)));
}

void SimBackend::top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices) {
  check_top_k_rows(scores, row_begin, k, indices);
  if (k > 0) charge(profile_.elementwise_seconds(ElementwiseOp::Copy, op_bytes::top_k_rows(scores, row_begin, k)));
}

// The rows cannot be checked (shape-only indices): the cpu and cuda backends do.
void SimBackend::gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst) {
  check_gather_head_rows(src, indices, dst);
  if (dst.numel() > 0)
    charge(profile_.elementwise_seconds(ElementwiseOp::Copy, op_bytes::gather_head_rows(indices, dst)));
}

std::unique_ptr<PhaseTimer> SimBackend::make_timer() { return std::make_unique<SimTimer>(*this); }

void SimBackend::flush() {
  if (pending_seconds_ <= 0) return;
  double seconds = pending_seconds_;
  pending_seconds_ = 0;
  // Hosts run at 1 flop/s in the platform files: an execution of s flops lasts s seconds.
  const double speed = sg4::this_actor::get_host()->get_speed();
  const double slowdown = profile_.overlap_slowdown;
  while (seconds > 0) {
    std::vector<sg4::ActivityPtr> transfers;
    if (transfers_in_flight_ && slowdown > 1.0) transfers = transfers_in_flight_();
    if (transfers.empty()) {
      sg4::this_actor::execute(seconds * speed);
      return;
    }
    // Slowed while the first of the transfers runs; what is left after it runs at its own pace.
    sg4::ExecPtr exec = sg4::this_actor::exec_async(seconds * slowdown * speed);
    std::vector<sg4::ActivityPtr> activities = {exec};
    activities.insert(activities.end(), transfers.begin(), transfers.end());
    if (sg4::Activity::wait_any(activities) == 0) return;
    const double remaining = exec->get_remaining();
    exec->cancel();
    seconds = remaining / speed / slowdown;
  }
}

}  // namespace sb::sim
