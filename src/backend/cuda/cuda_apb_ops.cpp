// APB's ops on the cuda backend (kernels/apb_compressor.cu, apb_select.cu):
// F32 or BF16 scores and activations, any dtype for the gathered K/V rows.
// The checks are the defaults' (backend/apb_op_checks.h).
#include <cuda_runtime_api.h>

#include "backend/apb_op_checks.h"
#include "backend/cuda/check_cuda.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/op_signature.h"
#include "kernels/apb_compressor.cuh"
#include "kernels/apb_select.cuh"

namespace sb {

void CudaBackend::silu(Tensor& x) {
  check_apb_float(x, "cuda silu");
  if (!step_gate("silu", (OpSignature("silu") << x.data() << x.numel() << x.dtype()).value())) return;
  kernels::launch_silu(x.data(), x.dtype() == DType::BF16, x.numel(), stream_);
  CUDA_CHECK_LAUNCH("silu");
}

void CudaBackend::max_pool_rows(const Tensor& x, int64_t radius, Tensor& out) {
  check_max_pool_rows(x, radius, out);
  const char* x0 = static_cast<const char*>(x.data());
  const char* out0 = static_cast<const char*>(out.data());
  SB_REQUIRE(out0 + out.nbytes() <= x0 || x0 + x.nbytes() <= out0 || x.numel() == 0,
             "cuda max_pool_rows: out {} overlaps x {}", out.describe(), x.describe());
  if (!step_gate("max_pool_rows", (OpSignature("max_pool_rows") << x.data() << x.dim(0) << x.dim(1) << radius
                                                                << x.dtype() << out.data()).value()))
    return;
  kernels::launch_max_pool_rows(x.data(), x.dtype() == DType::BF16, x.dim(0), x.dim(1), radius, out.data(), stream_);
  CUDA_CHECK_LAUNCH("max_pool_rows");
}

// Two radix sorts over a workspace of its own: a prefill op, never in a
// recorded decoding step.
void CudaBackend::top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices) {
  check_top_k_rows(scores, row_begin, k, indices);
  require_eager("top_k_rows");
  const int64_t rows = scores.dim(0), columns = scores.dim(1), candidates = rows - row_begin;
  if (k == 0 || columns == 0) return;
  SB_REQUIRE(candidates * columns < (int64_t(1) << 31), "cuda top_k_rows: {} rows x {} columns exceed one sort",
             candidates, columns);
  size_t bytes = 0;
  CUDA_CHECK(kernels::top_k_rows_workspace_bytes(candidates, columns, k, &bytes));
  Tensor workspace = empty(DType::I64, {int64_t((bytes + 7) / 8)});
  CUDA_CHECK(kernels::launch_top_k_rows(scores.data(), scores.dtype() == DType::BF16, rows, columns, row_begin, k,
                                        indices.ptr<int32_t>(), workspace.data(), workspace.nbytes(), stream_));
  // The workspace goes back to the allocator's cache now; the sorts reading it
  // are ordered before any later use of that memory on this stream.
}

// A row outside src is reported at the next synchronize (check_device_errors).
void CudaBackend::gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst) {
  check_gather_head_rows(src, indices, dst);
  const int64_t head_bytes = src.dim(2) * int64_t(dtype_size(src.dtype()));
  if (!step_gate("gather_head_rows", (OpSignature("gather_head_rows") << src.data() << src.dim(0) << src.dim(1)
                                                                      << head_bytes << indices.data() << indices.dim(1)
                                                                      << dst.data()).value()))
    return;
  kernels::launch_gather_head_rows(src.data(), src.dim(0), src.dim(1), head_bytes, indices.ptr<int32_t>(),
                                   indices.dim(1), dst.data(), error_flag_.ptr<int>(), stream_);
  CUDA_CHECK_LAUNCH("gather_head_rows");
}

}  // namespace sb
