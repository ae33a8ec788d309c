#pragma once
// APB's selection of the passing block (Backend::top_k_rows, gather_head_rows):
// the rows of the k largest scores of every KV head, and their K/V rows.
// Host logic (shape checks, the workspace's allocation) lives in src/backend/cuda.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime_api.h>

namespace sb::kernels {

// Device bytes launch_top_k_rows needs for `candidates` rows of `columns` and k.
cudaError_t top_k_rows_workspace_bytes(int64_t candidates, int64_t columns, int64_t k, size_t* bytes);

// For each column c of scores [rows, columns] (bf16: __nv_bfloat16, else
// float): the rows of its k largest values among rows [row_begin, rows), ties
// to the lower row, ascending, into indices [columns, k]. Two stable radix
// sorts (CUB): (column, descending score) pairs carrying their rows, so the
// first k of each column are its top k with ties in row order; then those
// C x k rows as (column, row) keys, ascending. Needs columns x candidates < 2^31.
// cudaErrorInvalidValue: the workspace is smaller than the size above.
cudaError_t launch_top_k_rows(const void* scores, bool bf16, int64_t rows, int64_t columns, int64_t row_begin,
                              int64_t k, int32_t* indices, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream);

// dst[i, h, :] = src[indices[h, i], h, :] for src [rows, heads, head_bytes
// bytes] and i < k; a row outside [0, rows) sets bit 4 of *error_flag and
// leaves its dst row as it was.
void launch_gather_head_rows(const void* src, int64_t rows, int64_t heads, int64_t head_bytes, const int32_t* indices,
                             int64_t k, void* dst, int* error_flag, cudaStream_t stream);

}  // namespace sb::kernels
