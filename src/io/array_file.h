#pragma once
// A plain HDF5 file of named datasets (the output of `starbench forward`):
// written whole to a temporary name, then renamed, so a reader never sees a
// half-written file.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sb {

struct NamedArray {
  std::string name;  // dataset path, e.g. "/logits"
  std::vector<int64_t> shape;
  std::vector<float> f32;    // one of f32 / i64 holds the data
  std::vector<int64_t> i64;
};

// Attributes of the file's root group: what produced the arrays (text, or 64-bit integers).
struct FileAttributes {
  std::vector<std::pair<std::string, std::string>> text;
  std::vector<std::pair<std::string, int64_t>> integers;
};

void write_array_file(const std::string& path, const std::vector<NamedArray>& arrays,
                      const FileAttributes& attributes = {});

}  // namespace sb
