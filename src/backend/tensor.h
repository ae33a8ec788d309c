#pragma once
// A dense, row-major tensor in one backend's memory (host for cpu, device for
// cuda). Tensors share storage; rows() makes a view of a range of the first
// dimension, which is how KV caches and token slices are addressed.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/dtype.h"

namespace sb {

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<void> storage, DType dtype, std::vector<int64_t> shape, size_t byte_offset = 0)
      : storage_(std::move(storage)), dtype_(dtype), shape_(std::move(shape)), byte_offset_(byte_offset) {}

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int axis) const { return shape_.at(axis); }
  int rank() const { return int(shape_.size()); }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape_) n *= d;
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  // Elements of one index of the first dimension.
  int64_t row_numel() const { return shape_.empty() ? 1 : numel() / shape_[0]; }

  void* data() const { return static_cast<char*>(storage_.get()) + byte_offset_; }
  template <typename T>
  T* ptr() const { return static_cast<T*>(data()); }

  // View of rows [begin, end) of the first dimension; shares storage.
  Tensor rows(int64_t begin, int64_t end) const;
  // Same storage, new shape with the same element count.
  Tensor reshape(std::vector<int64_t> shape) const;

  std::string describe() const;  // "BF16[128, 8, 128]"

 private:
  std::shared_ptr<void> storage_;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  size_t byte_offset_ = 0;
};

// Whether the bytes of a and b (both in host-addressable memory) overlap: the
// cpu backend's ops refuse or work around an output that aliases an input.
bool bytes_overlap(const Tensor& a, const Tensor& b);

}  // namespace sb
