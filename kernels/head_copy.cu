#include "kernels/head_copy.cuh"

#include <algorithm>

namespace sb::kernels {
namespace {

// One thread per Unit (16, 8, 4 or 2 bytes) of the copy, grid-stride.
template <typename Unit>
__global__ void copy_head_list_kernel(char* dst, int64_t dst_pitch, const char* src, int64_t src_pitch, int64_t rows,
                                      int64_t units_per_head, const HeadList heads) {
  const int64_t total = rows * heads.count * units_per_head;
  for (int64_t u = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; u < total; u += int64_t(gridDim.x) * blockDim.x) {
    const int64_t unit = u % units_per_head;
    const int64_t head = (u / units_per_head) % heads.count;
    const int64_t row = u / (units_per_head * heads.count);
    const int64_t head_bytes = units_per_head * int64_t(sizeof(Unit));
    const Unit* from = reinterpret_cast<const Unit*>(src + row * src_pitch + heads.src[head] * head_bytes) + unit;
    Unit* to = reinterpret_cast<Unit*>(dst + row * dst_pitch + heads.dst[head] * head_bytes) + unit;
    *to = *from;
  }
}

template <typename Unit>
void launch_as(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t rows, int64_t head_bytes,
               const HeadList& heads, cudaStream_t stream) {
  const int64_t units_per_head = head_bytes / int64_t(sizeof(Unit));
  const int64_t total = rows * heads.count * units_per_head;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535);
  copy_head_list_kernel<Unit><<<unsigned(blocks), threads, 0, stream>>>(
      static_cast<char*>(dst), dst_pitch, static_cast<const char*>(src), src_pitch, rows, units_per_head, heads);
}

}  // namespace

void launch_copy_head_list(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t rows,
                           int64_t head_bytes, const HeadList& heads, cudaStream_t stream) {
  if (rows <= 0 || heads.count <= 0 || head_bytes <= 0) return;
  // The widest unit that divides every offset: the head size, both pitches and both base addresses.
  const uint64_t alignment = uint64_t(head_bytes) | uint64_t(dst_pitch) | uint64_t(src_pitch) |
                             reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src);
  if (alignment % 16 == 0)
    launch_as<uint4>(dst, dst_pitch, src, src_pitch, rows, head_bytes, heads, stream);
  else if (alignment % 8 == 0)
    launch_as<uint2>(dst, dst_pitch, src, src_pitch, rows, head_bytes, heads, stream);
  else if (alignment % 4 == 0)
    launch_as<uint32_t>(dst, dst_pitch, src, src_pitch, rows, head_bytes, heads, stream);
  else
    launch_as<uint16_t>(dst, dst_pitch, src, src_pitch, rows, head_bytes, heads, stream);
}

}  // namespace sb::kernels
