#include "backend/head_copy.h"

#include "backend/backend.h"
#include "util/error.h"

namespace sb {

HeadCopy plan_head_copy(const char* who, const Tensor& dst, int64_t dst_row, int64_t dst_head, const Tensor& src,
                        int64_t src_row, int64_t src_head, int64_t num_rows, int64_t num_heads) {
  SB_REQUIRE(dst.defined() && src.defined(), "{}: undefined tensor", who);
  SB_REQUIRE(dst.rank() == 3 && src.rank() == 3 && dst.dtype() == src.dtype() && dst.dim(2) == src.dim(2),
             "{}: {} and {} are not [T, H, d] tensors of one dtype and head size", who, dst.describe(),
             src.describe());
  SB_REQUIRE(num_rows >= 0 && num_heads >= 0 && dst_row >= 0 && src_row >= 0 && dst_head >= 0 && src_head >= 0 &&
                 dst_row + num_rows <= dst.dim(0) && src_row + num_rows <= src.dim(0) &&
                 dst_head + num_heads <= dst.dim(1) && src_head + num_heads <= src.dim(1),
             "{}: rows [{}, {}) heads [{}, {}) of {} into rows [{}, {}) heads [{}, {}) of {} is out of range", who,
             src_row, src_row + num_rows, src_head, src_head + num_heads, src.describe(), dst_row, dst_row + num_rows,
             dst_head, dst_head + num_heads, dst.describe());
  const size_t head_bytes = size_t(dst.dim(2)) * dtype_size(dst.dtype());
  HeadCopy copy;
  copy.dst_pitch = size_t(dst.dim(1)) * head_bytes;
  copy.src_pitch = size_t(src.dim(1)) * head_bytes;
  copy.dst_offset = size_t(dst_row) * copy.dst_pitch + size_t(dst_head) * head_bytes;
  copy.src_offset = size_t(src_row) * copy.src_pitch + size_t(src_head) * head_bytes;
  copy.width = size_t(num_heads) * head_bytes;
  copy.height = size_t(num_rows);
  return copy;
}

void check_head_list(const char* who, const Tensor& dst, const Tensor& src, const std::vector<int64_t>& dst_heads,
                     const std::vector<int64_t>& src_heads) {
  SB_REQUIRE(dst_heads.size() == src_heads.size(), "{}: {} destination heads for {} source heads", who,
             dst_heads.size(), src_heads.size());
  for (size_t i = 0; i < dst_heads.size(); ++i) {
    SB_REQUIRE(dst.rank() == 3 && src.rank() == 3 && dst_heads[i] >= 0 && dst_heads[i] < dst.dim(1) &&
                   src_heads[i] >= 0 && src_heads[i] < src.dim(1),
               "{}: head {} -> {} is outside {} -> {}", who, src_heads[i], dst_heads[i], src.describe(),
               dst.describe());
  }
}

void Backend::copy_head_list(Tensor& dst, int64_t dst_row, const Tensor& src, int64_t src_row, int64_t num_rows,
                             const std::vector<int64_t>& dst_heads, const std::vector<int64_t>& src_heads) {
  check_head_list("copy_head_list", dst, src, dst_heads, src_heads);
  for (size_t first = 0; first < dst_heads.size();) {
    size_t end = first + 1;
    while (end < dst_heads.size() && dst_heads[end] == dst_heads[end - 1] + 1 &&
           src_heads[end] == src_heads[end - 1] + 1) {
      ++end;
    }
    copy_heads(dst, dst_row, dst_heads[first], src, src_row, src_heads[first], num_rows, int64_t(end - first));
    first = end;
  }
}

}  // namespace sb
