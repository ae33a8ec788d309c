#include "kernels/apb_select.cuh"

#include <algorithm>

#include <cub/device/device_radix_sort.cuh>
#include <cuda_bf16.h>

namespace sb::kernels {
namespace {

unsigned grid_for(int64_t count, int threads) {
  return unsigned(std::min<int64_t>((count + threads - 1) / threads, 65535));
}

// Bits that hold 0 .. n - 1.
int bits_for(int64_t n) {
  int bits = 0;
  while ((int64_t(1) << bits) < n) ++bits;
  return bits;
}

size_t round_up(size_t bytes) { return (bytes + 255) / 256 * 256; }

__device__ float widen(float x) { return x; }
__device__ float widen(__nv_bfloat16 x) { return __bfloat162float(x); }

// Larger scores give smaller keys (ascending sort = descending score); -0 and
// +0 give one key, as they compare equal on the host.
__device__ uint32_t descending_key(float score) {
  const uint32_t bits = __float_as_uint(score == 0.0f ? 0.0f : score);
  const uint32_t ascending = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return ~ascending;
}

// keys[c * candidates + t] = (c, descending score of row row_begin + t), rows[...] = that row:
// column-major with rows ascending, so the stable sort keeps the lower row first on ties.
template <typename T>
__global__ void score_keys_kernel(const T* scores, int64_t columns, int64_t row_begin, int64_t candidates,
                                  uint64_t* keys, int32_t* rows) {
  const int64_t count = columns * candidates;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < count; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = j / candidates, row = row_begin + j % candidates;
    keys[j] = (uint64_t(c) << 32) | descending_key(widen(scores[row * columns + c]));
    rows[j] = int32_t(row);
  }
}

// The first k of each column's sorted run, as (column, row - row_begin) keys.
__global__ void chosen_keys_kernel(const int32_t* sorted_rows, int64_t candidates, int64_t columns, int64_t k,
                                   int64_t row_begin, uint32_t* chosen) {
  const int64_t count = columns * k;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < count; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = j / k, i = j % k;
    chosen[j] = uint32_t(c * candidates + (sorted_rows[c * candidates + i] - row_begin));
  }
}

__global__ void chosen_rows_kernel(const uint32_t* chosen, int64_t candidates, int64_t columns, int64_t k,
                                   int64_t row_begin, int32_t* indices) {
  const int64_t count = columns * k;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < count; j += int64_t(gridDim.x) * blockDim.x)
    indices[j] = int32_t(int64_t(chosen[j]) - (j / k) * candidates + row_begin);
}

// The workspace: two key and two row buffers for the first sort, two key
// buffers for the second, then CUB's temporary storage (the larger of the two sorts').
struct Workspace {
  uint64_t* keys[2];
  int32_t* rows[2];
  uint32_t* chosen[2];
  void* temp = nullptr;
  size_t temp_bytes = 0, total = 0;
};

cudaError_t sort_temp_bytes(int64_t n, int64_t chosen, int key_bits, int chosen_bits, size_t* bytes) {
  size_t first = 0, second = 0;
  cub::DoubleBuffer<uint64_t> keys(nullptr, nullptr);
  cub::DoubleBuffer<int32_t> rows(nullptr, nullptr);
  cub::DoubleBuffer<uint32_t> picks(nullptr, nullptr);
  cudaError_t status = cub::DeviceRadixSort::SortPairs(nullptr, first, keys, rows, int(n), 0, key_bits);
  if (status == cudaSuccess)
    status = cub::DeviceRadixSort::SortKeys(nullptr, second, picks, int(chosen), 0, std::max(chosen_bits, 1));
  *bytes = std::max(first, second);
  return status;
}

// Lays the workspace out from `base` (0: only sizes it).
cudaError_t carve(uintptr_t base, int64_t candidates, int64_t columns, int64_t k, Workspace& w) {
  const int64_t n = candidates * columns, chosen = columns * k;
  w = Workspace{};
  uintptr_t at = base;
  auto take = [&](size_t bytes) {
    const uintptr_t here = at;
    at += round_up(bytes);
    w.total += round_up(bytes);
    return here;
  };
  for (auto*& keys : w.keys) keys = reinterpret_cast<uint64_t*>(take(size_t(n) * sizeof(uint64_t)));
  for (auto*& rows : w.rows) rows = reinterpret_cast<int32_t*>(take(size_t(n) * sizeof(int32_t)));
  for (auto*& picks : w.chosen) picks = reinterpret_cast<uint32_t*>(take(size_t(chosen) * sizeof(uint32_t)));
  const cudaError_t status = sort_temp_bytes(n, chosen, 32 + bits_for(columns), bits_for(n), &w.temp_bytes);
  w.temp = reinterpret_cast<void*>(take(w.temp_bytes));
  return status;
}

// One Unit (16, 8, 4 or 2 bytes) per thread, grid-stride over k x heads x units.
template <typename Unit>
__global__ void gather_head_rows_kernel(const Unit* src, int64_t rows, int64_t heads, int64_t units,
                                        const int32_t* indices, int64_t k, Unit* dst, int* error_flag) {
  const int64_t count = k * heads * units;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < count; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t unit = j % units, h = (j / units) % heads, i = j / (units * heads);
    const int64_t row = indices[h * k + i];
    if (row < 0 || row >= rows) {
      if (unit == 0) atomicOr(error_flag, 4);
      continue;
    }
    dst[j] = src[(row * heads + h) * units + unit];
  }
}

template <typename Unit>
void gather_as(const void* src, int64_t rows, int64_t heads, int64_t head_bytes, const int32_t* indices, int64_t k,
               void* dst, int* error_flag, cudaStream_t stream) {
  const int64_t units = head_bytes / int64_t(sizeof(Unit)), threads = 256;
  gather_head_rows_kernel<Unit><<<grid_for(k * heads * units, threads), threads, 0, stream>>>(
      static_cast<const Unit*>(src), rows, heads, units, indices, k, static_cast<Unit*>(dst), error_flag);
}

}  // namespace

cudaError_t top_k_rows_workspace_bytes(int64_t candidates, int64_t columns, int64_t k, size_t* bytes) {
  Workspace w;
  const cudaError_t status = carve(0, candidates, columns, k, w);
  *bytes = w.total;
  return status;
}

cudaError_t launch_top_k_rows(const void* scores, bool bf16, int64_t rows, int64_t columns, int64_t row_begin,
                              int64_t k, int32_t* indices, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream) {
  const int64_t candidates = rows - row_begin, n = candidates * columns, chosen = columns * k;
  if (chosen <= 0) return cudaSuccess;
  Workspace w;
  cudaError_t status = carve(reinterpret_cast<uintptr_t>(workspace), candidates, columns, k, w);
  if (status != cudaSuccess) return status;
  if (w.total > workspace_bytes) return cudaErrorInvalidValue;
  const int threads = 256;
  if (bf16)
    score_keys_kernel<<<grid_for(n, threads), threads, 0, stream>>>(static_cast<const __nv_bfloat16*>(scores),
                                                                     columns, row_begin, candidates, w.keys[0],
                                                                     w.rows[0]);
  else
    score_keys_kernel<<<grid_for(n, threads), threads, 0, stream>>>(static_cast<const float*>(scores), columns,
                                                                     row_begin, candidates, w.keys[0], w.rows[0]);
  if ((status = cudaGetLastError()) != cudaSuccess) return status;
  cub::DoubleBuffer<uint64_t> keys(w.keys[0], w.keys[1]);
  cub::DoubleBuffer<int32_t> sorted_rows(w.rows[0], w.rows[1]);
  size_t temp_bytes = w.temp_bytes;
  status = cub::DeviceRadixSort::SortPairs(w.temp, temp_bytes, keys, sorted_rows, int(n), 0, 32 + bits_for(columns),
                                           stream);
  if (status != cudaSuccess) return status;
  chosen_keys_kernel<<<grid_for(chosen, threads), threads, 0, stream>>>(sorted_rows.Current(), candidates, columns, k,
                                                                        row_begin, w.chosen[0]);
  if ((status = cudaGetLastError()) != cudaSuccess) return status;
  cub::DoubleBuffer<uint32_t> picks(w.chosen[0], w.chosen[1]);
  temp_bytes = w.temp_bytes;
  status = cub::DeviceRadixSort::SortKeys(w.temp, temp_bytes, picks, int(chosen), 0, std::max(bits_for(n), 1), stream);
  if (status != cudaSuccess) return status;
  chosen_rows_kernel<<<grid_for(chosen, threads), threads, 0, stream>>>(picks.Current(), candidates, columns, k,
                                                                        row_begin, indices);
  return cudaGetLastError();
}

void launch_gather_head_rows(const void* src, int64_t rows, int64_t heads, int64_t head_bytes, const int32_t* indices,
                             int64_t k, void* dst, int* error_flag, cudaStream_t stream) {
  if (k <= 0 || heads <= 0 || head_bytes <= 0) return;
  const uint64_t alignment =
      uint64_t(head_bytes) | reinterpret_cast<uintptr_t>(src) | reinterpret_cast<uintptr_t>(dst);
  if (alignment % 16 == 0)
    gather_as<uint4>(src, rows, heads, head_bytes, indices, k, dst, error_flag, stream);
  else if (alignment % 8 == 0)
    gather_as<uint2>(src, rows, heads, head_bytes, indices, k, dst, error_flag, stream);
  else if (alignment % 4 == 0)
    gather_as<uint32_t>(src, rows, heads, head_bytes, indices, k, dst, error_flag, stream);
  else
    gather_as<uint16_t>(src, rows, heads, head_bytes, indices, k, dst, error_flag, stream);
}

}  // namespace sb::kernels
