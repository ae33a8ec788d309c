#pragma once
// Read-only view of one .safetensors file: the file is mmapped (MAP_PRIVATE) and
// every tensor is a pointer into the map, no copy. The header is validated in
// full when the file is opened, so a pointer handed out is always in bounds.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {str: str}, "<name>": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...}
// then the data buffer; offsets are relative to its start.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/dtype.h"

namespace sb {

struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::F32;  // BF16, F16 or F32: other dtypes are refused at open
  std::vector<int64_t> shape;
  const void* data = nullptr;  // into the map; unaligned if the writer did not pad the header
  size_t byte_size = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

class SafetensorsFile {
 public:
  // Throws sb::Error naming the file (and tensor) for anything malformed.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // In file order (by data offset).
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const SafetensorsTensor* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void parse_header(size_t header_length);

  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, size_t> by_name_;
  std::map<std::string, std::string> metadata_;
};

// Values of a BF16/F16/F32 tensor widened to float (exact for all three).
std::vector<float> tensor_to_float(const SafetensorsTensor& tensor);

// "[2, 3]": shapes in error messages.
std::string shape_to_string(const std::vector<int64_t>& shape);

// Parses a safetensors dtype string; anything but BF16/F16/F32 throws, naming it and `context`.
DType parse_safetensors_dtype(const std::string& dtype, const std::string& context);

}  // namespace sb
