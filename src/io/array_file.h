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
// Reads one dataset as float64 (for tests and tools); shape returned through `shape`.
std::vector<double> read_array_as_f64(const std::string& path, const std::string& name, std::vector<int64_t>* shape);

}  // namespace sb
