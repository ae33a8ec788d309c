#pragma once
// The block size the cuda backend's caching allocator (cuda/device_allocator.*)
// gives a request. Here, not in cuda/, so that the simulator's shape-only
// backend counts memory with exactly the same rounding (its peaks are the cuda
// backend's) without depending on CUDA.
#include <cstddef>

namespace sb {

// Small blocks to 512 B (keeps 16-byte vector access aligned), large ones (1 MiB
// and up) to 2 MiB so that a block is reusable across nearby sizes; 0 bytes
// take a small block.
constexpr size_t device_block_size(size_t bytes) {
  constexpr size_t small = 512, large = size_t(2) << 20;
  if (bytes == 0) bytes = 1;
  if (bytes < (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

}  // namespace sb
