#pragma once
// The argument checks of APB's ops (backend.h, "APB's passing blocks"), written
// once for the host-memory defaults and every backend's own kernels: each
// throws sb::Error naming the op and the tensors when they do not fit.
#include <cstdint>

#include "backend/tensor.h"

namespace sb {

// x is F32 or BF16 (the activation dtypes the ops compute on).
void check_apb_float(const Tensor& x, const char* op);
// x and out [T, C] of one float dtype, radius >= 0.
void check_max_pool_rows(const Tensor& x, int64_t radius, const Tensor& out);
// scores [T, C] float, 0 <= row_begin, 0 <= k <= T - row_begin, indices I32 [C, k].
void check_top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, const Tensor& indices);
// src [T, H, d], indices I32 [H, k], dst [k, H, d] of src's dtype. The rows'
// range (0 <= row < T) is checked where the indices are read.
void check_gather_head_rows(const Tensor& src, const Tensor& indices, const Tensor& dst);

}  // namespace sb
