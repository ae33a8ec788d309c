#include "io/array_file.h"

#include <hdf5.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "io/check_h5.h"
#include "util/error.h"

namespace sb {
namespace {

// Checks an HDF5 return value (negative id or status means failure) and names the call.
template <typename T>
T h5_call(T result, const char* call, const std::string& path) {
  if (result < 0) fail("rank {}: HDF5 call {} failed for {}", current_rank(), call, path);
  return result;
}
#define H5_OK(call, path) h5_call((call), #call, (path))

}  // namespace

void write_array_file(const std::string& path, const std::vector<NamedArray>& arrays,
                      const FileAttributes& attributes) {
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  silence_hdf5_errors();
  hid_t file = H5Fcreate(temporary.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  SB_REQUIRE(file >= 0, "cannot create output file {} (is the directory writable?)", path);
  for (const NamedArray& array : arrays) {
    std::vector<hsize_t> dims(array.shape.begin(), array.shape.end());
    hid_t space = H5_OK(H5Screate_simple(int(dims.size()), dims.data(), nullptr), temporary);
    const bool is_float = !array.f32.empty() || array.i64.empty();
    hid_t type = is_float ? H5T_IEEE_F32LE : H5T_STD_I64LE;
    hid_t dataset = H5_OK(H5Dcreate2(file, array.name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                          temporary);
    if (is_float) {
      H5_OK(H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, array.f32.data()), temporary);
    } else {
      H5_OK(H5Dwrite(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, array.i64.data()), temporary);
    }
    H5Dclose(dataset);
    H5Sclose(space);
  }
  for (const auto& [name, value] : attributes.text) {
    hid_t type = H5_OK(H5Tcopy(H5T_C_S1), temporary);
    H5_OK(H5Tset_size(type, value.empty() ? 1 : value.size()), temporary);
    H5_OK(H5Tset_strpad(type, H5T_STR_NULLPAD), temporary);
    hid_t space = H5_OK(H5Screate(H5S_SCALAR), temporary);
    hid_t attribute = H5_OK(H5Acreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), temporary);
    H5_OK(H5Awrite(attribute, type, value.empty() ? "" : value.data()), temporary);
    H5Aclose(attribute);
    H5Sclose(space);
    H5Tclose(type);
  }
  for (const auto& [name, value] : attributes.integers) {
    hid_t space = H5_OK(H5Screate(H5S_SCALAR), temporary);
    hid_t attribute =
        H5_OK(H5Acreate2(file, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT), temporary);
    H5_OK(H5Awrite(attribute, H5T_NATIVE_INT64, &value), temporary);
    H5Aclose(attribute);
    H5Sclose(space);
  }
  H5_OK(H5Fclose(file), temporary);
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::remove(temporary.c_str());
    fail("cannot write output file {}: {}", path, error.message());
  }
}

}  // namespace sb
