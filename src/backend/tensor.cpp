#include "backend/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/error.h"

namespace sb {

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  SB_REQUIRE(!shape_.empty() && 0 <= begin && begin <= end && end <= shape_[0],
             "rows [{}, {}) out of range for {}", begin, end, describe());
  std::vector<int64_t> shape = shape_;
  shape[0] = end - begin;
  return Tensor(storage_, dtype_, std::move(shape),
                byte_offset_ + size_t(begin) * size_t(row_numel()) * dtype_size(dtype_));
}

Tensor Tensor::reshape(std::vector<int64_t> shape) const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  SB_REQUIRE(n == numel(), "cannot reshape {} to {} elements", describe(), n);
  return Tensor(storage_, dtype_, std::move(shape), byte_offset_);
}

std::string Tensor::describe() const { return fmt::format("{}[{}]", dtype_name(dtype_), fmt::join(shape_, ", ")); }

bool bytes_overlap(const Tensor& a, const Tensor& b) {
  const char* a0 = static_cast<const char*>(a.data());
  const char* b0 = static_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

}  // namespace sb
