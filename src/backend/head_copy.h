#pragma once
// The byte geometry of Backend::copy_heads, checked once for both backends:
// `height` rows of `width` bytes, each row `src_pitch` / `dst_pitch` bytes
// after the previous one (a cudaMemcpy2D, or a loop of memcpy on the host).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/tensor.h"

namespace sb {

struct HeadCopy {
  size_t dst_offset = 0, src_offset = 0;  // bytes from each tensor's data()
  size_t dst_pitch = 0, src_pitch = 0;    // bytes per token row
  size_t width = 0;                       // bytes copied per token row
  size_t height = 0;                      // token rows
};

// Throws sb::Error naming the op (`who`) and the tensors when the shapes,
// dtypes or ranges do not fit.
HeadCopy plan_head_copy(const char* who, const Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src,
                        int64_t src_row, int64_t src_head, int64_t num_rows, int64_t num_heads);

// Throws sb::Error unless the two head lists have one length and every head
// exists in its [T, H, d] tensor.
void check_head_list(const char* who, const Tensor& dst, const Tensor& src, const std::vector<int64_t>& dst_heads,
                     const std::vector<int64_t>& src_heads);

}  // namespace sb
