// APB's ops (backend.h, "APB's passing blocks") through host memory: the
// reference semantics, what the cpu backend runs and what a backend without
// kernels of its own falls back to. Values go down as f32 and come back in the
// tensor's dtype (bf16 rounded to nearest even, like the kernels' stores).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "backend/apb_op_checks.h"
#include "backend/backend.h"
#include "util/error.h"

namespace sb {

namespace {

// Host f32 values into a tensor of dtype F32 or BF16, ordered after earlier ops.
void store_f32(Backend& backend, Tensor& dst, const std::vector<float>& values) {
  SB_REQUIRE(int64_t(values.size()) == dst.numel(), "apb ops: {} values for {}", values.size(), dst.describe());
  if (dst.dtype() == DType::F32) {
    backend.copy_from_host(dst, values.data());
    return;
  }
  SB_REQUIRE(dst.dtype() == DType::BF16, "apb ops: {} is neither F32 nor BF16", dst.describe());
  std::vector<uint16_t> bits(values.size());
  std::transform(values.begin(), values.end(), bits.begin(), f32_to_bf16);
  backend.copy_from_host(dst, bits.data());
}

void require_rows_by_columns(const Tensor& x, const char* op) {
  SB_REQUIRE(x.defined() && x.rank() == 2, "{}: expected [T, C], got {}", op,
             x.defined() ? x.describe() : "an undefined tensor");
}

}  // namespace

void check_apb_float(const Tensor& x, const char* op) {
  SB_REQUIRE(x.defined() && (x.dtype() == DType::F32 || x.dtype() == DType::BF16), "{}: {} is neither F32 nor BF16",
             op, x.defined() ? x.describe() : "an undefined tensor");
}

void check_max_pool_rows(const Tensor& x, int64_t radius, const Tensor& out) {
  require_rows_by_columns(x, "max_pool_rows");
  check_apb_float(x, "max_pool_rows");
  SB_REQUIRE(out.defined() && out.shape() == x.shape() && out.dtype() == x.dtype() && radius >= 0,
             "max_pool_rows: out {} for x {}, radius {}", out.defined() ? out.describe() : "undefined", x.describe(),
             radius);
}

void check_top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, const Tensor& indices) {
  require_rows_by_columns(scores, "top_k_rows");
  check_apb_float(scores, "top_k_rows");
  const int64_t rows = scores.dim(0), columns = scores.dim(1);
  SB_REQUIRE(row_begin >= 0 && k >= 0 && k <= rows - row_begin, "top_k_rows: k {} of rows [{}, {})", k, row_begin,
             rows);
  SB_REQUIRE(indices.defined() && indices.dtype() == DType::I32 && indices.rank() == 2 && indices.dim(0) == columns &&
                 indices.dim(1) == k,
             "top_k_rows: indices {} must be I32 [{}, {}]", indices.defined() ? indices.describe() : "undefined",
             columns, k);
}

void check_gather_head_rows(const Tensor& src, const Tensor& indices, const Tensor& dst) {
  SB_REQUIRE(src.defined() && indices.defined() && dst.defined(), "gather_head_rows: an undefined tensor");
  SB_REQUIRE(src.rank() == 3 && indices.dtype() == DType::I32 && indices.rank() == 2 && indices.dim(0) == src.dim(1),
             "gather_head_rows: indices {} for src {}", indices.describe(), src.describe());
  const int64_t heads = src.dim(1), k = indices.dim(1);
  SB_REQUIRE(dst.rank() == 3 && dst.dim(0) == k && dst.dim(1) == heads && dst.dim(2) == src.dim(2) &&
                 dst.dtype() == src.dtype(),
             "gather_head_rows: dst {} for {} rows of src {}", dst.describe(), k, src.describe());
}

void Backend::silu(Tensor& x) {
  check_apb_float(x, "silu");
  std::vector<float> values = to_host_f32(x);
  for (float& value : values) value = value / (1.0f + std::exp(-value));
  store_f32(*this, x, values);
}

void Backend::max_pool_rows(const Tensor& x, int64_t radius, Tensor& out) {
  check_max_pool_rows(x, radius, out);
  const int64_t rows = x.dim(0), columns = x.dim(1);
  const std::vector<float> values = to_host_f32(x);
  std::vector<float> pooled(values.size());
  for (int64_t t = 0; t < rows; ++t) {
    const int64_t first = std::max<int64_t>(0, t - radius), last = std::min(rows - 1, t + radius);
    for (int64_t c = 0; c < columns; ++c) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t u = first; u <= last; ++u) best = std::max(best, values[size_t(u * columns + c)]);
      pooled[size_t(t * columns + c)] = best;
    }
  }
  store_f32(*this, out, pooled);
}

void Backend::top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices) {
  check_top_k_rows(scores, row_begin, k, indices);
  const int64_t rows = scores.dim(0), columns = scores.dim(1);
  if (k == 0) return;
  const std::vector<float> values = to_host_f32(scores);
  std::vector<int32_t> selected(size_t(columns * k));
  std::vector<int32_t> order(size_t(rows - row_begin));
  for (int64_t c = 0; c < columns; ++c) {
    std::iota(order.begin(), order.end(), int32_t(row_begin));
    auto larger = [&](int32_t a, int32_t b) {
      const float va = values[size_t(a * columns + c)], vb = values[size_t(b * columns + c)];
      return va > vb || (va == vb && a < b);
    };
    std::partial_sort(order.begin(), order.begin() + k, order.end(), larger);
    std::sort(order.begin(), order.begin() + k);
    std::copy(order.begin(), order.begin() + k, selected.begin() + c * k);
  }
  copy_from_host(indices, selected.data());
}

void Backend::gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst) {
  check_gather_head_rows(src, indices, dst);
  const int64_t heads = src.dim(1), k = indices.dim(1);
  const std::vector<float> rows = to_host_f32(indices.reshape({indices.numel()}));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < k; ++i) {
      const int64_t row = int64_t(rows[size_t(h * k + i)]);
      SB_REQUIRE(row >= 0 && row < src.dim(0), "gather_head_rows: row {} of a {}-row src", row, src.dim(0));
      copy_heads(dst, i, h, src, row, h, 1, 1);
    }
  }
}

}  // namespace sb
