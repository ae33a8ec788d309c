#pragma once
// Test helper: the [r0, r1) x [c0, c1) block of a row-major matrix of `columns`
// columns, row by row: what a weight slice must upload.
#include <cstdint>
#include <vector>

namespace sb::testing {

inline std::vector<float> block_of(const std::vector<float>& full, int64_t columns, int64_t r0, int64_t r1,
                                   int64_t c0, int64_t c1) {
  std::vector<float> block;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) block.push_back(full[size_t(r * columns + c)]);
  return block;
}

}  // namespace sb::testing
