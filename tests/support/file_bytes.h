#pragma once
// A file's whole content as bytes (empty when it cannot be read): what tests
// compare before and after an operation that must leave a file as it was.
#include <fstream>
#include <sstream>
#include <string>

namespace sb::test {

inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace sb::test
