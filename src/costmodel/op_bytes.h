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

// APB's ops (Backend::silu, max_pool_rows, gather_head_rows): each element read
// and written once (the pool's window is re-read from cache); the gather also
// reads its indices.
inline double silu(const Tensor& x) { return 2.0 * double(x.nbytes()); }
inline double max_pool_rows(const Tensor& x) { return 2.0 * double(x.nbytes()); }
inline double gather_head_rows(const Tensor& indices, const Tensor& dst) {
  return 2.0 * double(dst.nbytes()) + double(indices.nbytes());
}
// Backend::top_k_rows as the cuda backend runs it (kernels/apb_select.cu): the
// n = C x (T - row_begin) candidates become 8-byte keys with 4-byte rows
// (reading the score), are radix sorted in one pass per 8 key bits (each pass
// reads and writes keys and rows), and the C x k chosen rows are sorted again
// as 4-byte keys and written out.
inline double top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k) {
  const int64_t columns = scores.rank() == 2 ? scores.dim(1) : 0;
  const double n = double(columns) * double(scores.rank() == 2 ? scores.dim(0) - row_begin : 0);
  const double chosen = double(columns) * double(k);
  int column_bits = 0;
  while ((int64_t(1) << column_bits) < columns) ++column_bits;
  const double key_passes = double((32 + column_bits + 7) / 8), row_passes = 4.0;
  return n * (double(dtype_size(scores.dtype())) + 12.0) + key_passes * n * 24.0 + chosen * 8.0 +
         row_passes * chosen * 8.0 + chosen * 8.0;
}

}  // namespace sb::op_bytes
