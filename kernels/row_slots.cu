#include "kernels/row_slots.cuh"

namespace sb::kernels {
namespace {

// One thread per 16-byte unit (head sizes of bf16 rows are multiples of 16 bytes).
__global__ void write_rows_at_kernel(const RowSlotsParams p, const HeadList heads) {
  const int64_t units = p.head_bytes / 16;
  const int64_t total = p.rows * heads.count * units;
  for (int64_t u = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; u < total; u += int64_t(gridDim.x) * blockDim.x) {
    const int64_t unit = u % units, head = (u / units) % heads.count, t = u / (units * heads.count);
    int64_t offset = int64_t(p.positions[t]) - p.first_position;
    if (p.period > 0) offset = ((offset % p.period) + p.period) % p.period;
    const int64_t row = p.first_row + offset;
    if (row < 0 || row >= p.dst_rows) {
      if (unit == 0 && head == 0) atomicOr(p.error_flag, 2);
      continue;
    }
    const uint4* from = reinterpret_cast<const uint4*>(p.src + t * p.src_pitch + heads.src[head] * p.head_bytes) + unit;
    uint4* to = reinterpret_cast<uint4*>(p.dst + row * p.dst_pitch + heads.dst[head] * p.head_bytes) + unit;
    *to = *from;
  }
}

}  // namespace

void launch_write_rows_at(const RowSlotsParams& p, const HeadList& heads, cudaStream_t stream) {
  const int64_t total = p.rows * heads.count * (p.head_bytes / 16);
  if (total <= 0) return;
  const int threads = 256;
  const int64_t blocks = (total + threads - 1) / threads < 4096 ? (total + threads - 1) / threads : 4096;
  write_rows_at_kernel<<<unsigned(blocks), threads, 0, stream>>>(p, heads);
}

}  // namespace sb::kernels
