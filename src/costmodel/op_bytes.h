#pragma once
// Bytes an element-wise operation moves (reads + writes): the argument of its
// linear cost. One definition, used where costs are measured (calibrate) and
// where they are charged (the simulator's backend), so the two cannot drift.
#include "backend/tensor.h"

namespace sb::op_bytes {

inline double embedding(const Tensor& out) { return 2.0 * double(out.nbytes()); }
inline double rmsnorm(const Tensor& x) { return 2.0 * double(x.nbytes()); }
inline double rope(const Tensor& x) { return 2.0 * double(x.nbytes()); }
inline double swiglu(const Tensor& gate) { return 3.0 * double(gate.nbytes()); }
inline double lse_merge(const Tensor& out, const Tensor& lse) {
  return 3.0 * double(out.nbytes()) + 3.0 * double(lse.nbytes());
}
inline double copy_rows(const Tensor& src, int64_t num_rows) {
  return 2.0 * double(num_rows) * double(src.row_numel()) * double(dtype_size(src.dtype()));
}
// Heads of [T, H, d] rows (Backend::copy_heads, copy_head_list): read and written once.
inline double copy_heads(const Tensor& src, int64_t num_rows, int64_t num_heads) {
  return 2.0 * double(num_rows) * double(num_heads) * double(src.rank() == 3 ? src.dim(2) : 0) *
         double(dtype_size(src.dtype()));
}
inline double argmax(const Tensor& logits) { return double(logits.nbytes()); }

}  // namespace sb::op_bytes
