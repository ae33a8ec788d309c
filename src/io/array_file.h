#pragma once
// A plain HDF5 file of named datasets (the output of `starbench forward`):
// written whole to a temporary name, then renamed, so a reader never sees a
// half-written file.
#include <cstdint>
#include <string>
#include <vector>

namespace sb {

struct NamedArray {
  std::string name;  // dataset path, e.g. "/logits"
  std::vector<int64_t> shape;
  std::vector<float> f32;    // one of f32 / i64 holds the data
  std::vector<int64_t> i64;
};

void write_array_file(const std::string& path, const std::vector<NamedArray>& arrays);

}  // namespace sb
