#pragma once
// The values of seeded synthetic weights: one definition for host C++ (the cpu
// backend, tests) and CUDA (kernels/synthetic.cuh's kernel), so the two
// backends cannot drift apart.
#include <cstdint>

#include "util/host_device.h"

namespace sb {

// Counter-based: element i of a synthetic tensor depends only on (seed, i), so
// the CPU and CUDA backends (and any chunking of the work) produce the same
// values. Uniform in [-1, 1): 24 random bits of a splitmix64 mix.
SB_HOST_DEVICE inline float synthetic_value(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return float(int64_t(z >> 40)) * (1.0f / 8388608.0f) - 1.0f;
}

}  // namespace sb
