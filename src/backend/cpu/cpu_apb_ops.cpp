// APB's ops on the cpu backend: loops over host memory, OpenMP across rows or
// columns, F32 and BF16 storage. The arithmetic is the defaults' (apb_ops.cpp)
// expression for expression, so F32 results equal theirs bit for bit; BF16
// values are widened, computed in f32 and rounded to nearest even like theirs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "backend/apb_op_checks.h"
#include "backend/cpu/cpu_backend.h"
#include "util/error.h"

namespace sb {
namespace {

float load(const float* data, int64_t i) { return data[i]; }
float load(const uint16_t* data, int64_t i) { return bf16_to_f32(data[i]); }
void store(float* data, int64_t i, float value) { data[i] = value; }
void store(uint16_t* data, int64_t i, float value) { data[i] = f32_to_bf16(value); }

// fn(pointer) with x's storage as float* or uint16_t* (BF16).
template <typename Fn>
void with_storage(const Tensor& x, Fn&& fn) {
  if (x.dtype() == DType::F32)
    fn(x.ptr<float>());
  else
    fn(x.ptr<uint16_t>());
}

bool overlaps(const Tensor& a, const Tensor& b) {
  const char* a0 = static_cast<const char*>(a.data());
  const char* b0 = static_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

}  // namespace

void CpuBackend::silu(Tensor& x) {
  check_apb_float(x, "silu");
  const int64_t n = x.numel();
  with_storage(x, [&](auto* data) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const float value = load(data, i);
      store(data, i, value / (1.0f + std::exp(-value)));
    }
  });
}

void CpuBackend::max_pool_rows(const Tensor& x, int64_t radius, Tensor& out) {
  check_max_pool_rows(x, radius, out);
  if (overlaps(x, out)) {  // in place (or overlapping views): pool a copy
    Tensor source = empty(x.dtype(), x.shape());
    copy_rows(source, 0, x, 0, x.dim(0));
    max_pool_rows(source, radius, out);
    return;
  }
  const int64_t rows = x.dim(0), columns = x.dim(1);
  with_storage(x, [&](auto* in) {
    auto* pooled = out.ptr<std::remove_pointer_t<decltype(in)>>();
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rows; ++t) {
      const int64_t first = std::max<int64_t>(0, t - radius), last = std::min(rows - 1, t + radius);
      for (int64_t c = 0; c < columns; ++c) {
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t u = first; u <= last; ++u) best = std::max(best, load(in, u * columns + c));
        store(pooled, t * columns + c, best);
      }
    }
  });
}

void CpuBackend::top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices) {
  check_top_k_rows(scores, row_begin, k, indices);
  if (k == 0) return;
  const int64_t rows = scores.dim(0), columns = scores.dim(1), candidates = rows - row_begin;
  int32_t* selected = indices.ptr<int32_t>();
  with_storage(scores, [&](auto* values) {
    // Larger score first, the lower row on ties: a strict total order, so the
    // k rows it keeps are the defaults' whatever the algorithm.
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t c = 0; c < columns; ++c) {
      std::vector<float> column(static_cast<size_t>(candidates));
      for (int64_t t = 0; t < candidates; ++t) column[size_t(t)] = load(values, (row_begin + t) * columns + c);
      std::vector<int32_t> order(static_cast<size_t>(candidates));
      std::iota(order.begin(), order.end(), 0);
      auto larger = [&](int32_t a, int32_t b) {
        const float va = column[size_t(a)], vb = column[size_t(b)];
        return va > vb || (va == vb && a < b);
      };
      if (k < candidates) std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), larger);
      std::sort(order.begin(), order.begin() + k);
      for (int64_t i = 0; i < k; ++i) selected[c * k + i] = int32_t(row_begin) + order[size_t(i)];
    }
  });
}

void CpuBackend::gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst) {
  check_gather_head_rows(src, indices, dst);
  const int64_t rows = src.dim(0), heads = src.dim(1), k = indices.dim(1);
  const int32_t* picks = indices.ptr<int32_t>();
  for (int64_t i = 0; i < heads * k; ++i)
    SB_REQUIRE(picks[i] >= 0 && picks[i] < rows, "gather_head_rows: row {} of a {}-row src", picks[i], rows);
  SB_REQUIRE(!overlaps(src, dst) || k == 0, "gather_head_rows: dst {} overlaps src {}", dst.describe(),
             src.describe());
  const size_t head_bytes = size_t(src.dim(2)) * dtype_size(src.dtype());
  const char* from = static_cast<const char*>(src.data());
  char* to = static_cast<char*>(dst.data());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < k; ++i)
    for (int64_t h = 0; h < heads; ++h)
      std::memcpy(to + size_t(i * heads + h) * head_bytes, from + size_t(picks[h * k + i] * heads + h) * head_bytes,
                  head_bytes);
}

}  // namespace sb
