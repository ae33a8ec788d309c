#pragma once
// Shared helpers of the results-store tests: a scratch directory per test and a
// reader for the /index table that goes straight through the HDF5 C API, so the
// index is checked independently of ResultsStore's own reading code.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/error_message.h"

namespace sb::test {

class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Parameterised tests have '/' in their names: keep the scratch dir one level deep.
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name)
      if (c == '/') c = '_';
    path_ = std::filesystem::temp_directory_path() / ("starbench_io_" + std::to_string(getpid()) + "_" + name);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct IndexTable {
  size_t rows = 0;
  std::vector<std::string> columns;
  std::vector<std::string> run_id;
  // Column name -> values, by kind.
  std::map<std::string, std::vector<std::string>> text;
  std::map<std::string, std::vector<int64_t>> integers;
  std::map<std::string, std::vector<double>> numbers;
};

// The message of the sb::Error that `call` throws ("(no sb::Error)" when none).
template <typename F>
std::string error_of(F&& call) {
  return testing::error_message_of(std::forward<F>(call), "(no sb::Error)");
}

inline IndexTable read_index(const std::string& path) {
  IndexTable table;
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(file, 0);
  hid_t dataset = H5Dopen2(file, "index", H5P_DEFAULT);
  EXPECT_GE(dataset, 0);
  hid_t space = H5Dget_space(dataset);
  hsize_t rows = 0;
  H5Sget_simple_extent_dims(space, &rows, nullptr);
  table.rows = rows;
  hid_t type = H5Dget_type(dataset);
  const size_t row_size = H5Tget_size(type);
  std::vector<char> buffer(rows * row_size);
  if (rows) EXPECT_GE(H5Dread(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()), 0);
  const int members = H5Tget_nmembers(type);
  for (int m = 0; m < members; ++m) {
    char* raw_name = H5Tget_member_name(type, unsigned(m));
    const std::string name = raw_name;
    H5free_memory(raw_name);
    table.columns.push_back(name);
    const size_t offset = H5Tget_member_offset(type, unsigned(m));
    hid_t member = H5Tget_member_type(type, unsigned(m));
    const H5T_class_t kind = H5Tget_class(member);
    const size_t size = H5Tget_size(member);
    for (size_t r = 0; r < rows; ++r) {
      const char* cell = buffer.data() + r * row_size + offset;
      if (kind == H5T_STRING) {
        std::string value(cell, size);
        value = value.substr(0, value.find('\0'));
        (name == "run_id" ? table.run_id : table.text[name]).push_back(value);
      } else if (kind == H5T_INTEGER) {
        int64_t value;
        std::memcpy(&value, cell, 8);
        table.integers[name].push_back(value);
      } else {
        double value;
        std::memcpy(&value, cell, 8);
        table.numbers[name].push_back(value);
      }
    }
    H5Tclose(member);
  }
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(dataset);
  H5Fclose(file);
  return table;
}

}  // namespace sb::test
