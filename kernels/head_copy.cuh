#pragma once
// Copies a list of heads between [T, H, d] tensors in one launch (DuoAttention
// packs and unpacks the heads of one kind: a handful of strided runs per layer,
// which as separate copies would cost one launch each, every decoding step).
#include <cstdint>

#include <cuda_runtime_api.h>

namespace sb::kernels {

constexpr int kMaxHeadList = 256;

struct HeadList {
  int32_t dst[kMaxHeadList];
  int32_t src[kMaxHeadList];
  int count = 0;
};

// For each row r < rows and i < heads.count: head_bytes bytes from
// src + r * src_pitch + heads.src[i] * head_bytes to
// dst + r * dst_pitch + heads.dst[i] * head_bytes.
void launch_copy_head_list(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t rows,
                           int64_t head_bytes, const HeadList& heads, cudaStream_t stream);

}  // namespace sb::kernels
