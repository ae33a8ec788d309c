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

void write_array_file(const std::string& path, const std::vector<NamedArray>& arrays) {
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
  H5_OK(H5Fclose(file), temporary);
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::remove(temporary.c_str());
    fail("cannot write output file {}: {}", path, error.message());
  }
}

std::vector<double> read_array_as_f64(const std::string& path, const std::string& name,
                                      std::vector<int64_t>* shape) {
  silence_hdf5_errors();
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  SB_REQUIRE(file >= 0, "cannot open HDF5 file {}", path);
  hid_t dataset = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  if (dataset < 0) {
    H5Fclose(file);
    fail("{} has no dataset {}", path, name);
  }
  hid_t space = H5Dget_space(dataset);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(size_t(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  size_t count = 1;
  for (hsize_t d : dims) count *= size_t(d);
  std::vector<double> values(count);
  herr_t status = H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Sclose(space);
  H5Dclose(dataset);
  H5Fclose(file);
  SB_REQUIRE(status >= 0, "cannot read {} from {}", name, path);
  if (shape) shape->assign(dims.begin(), dims.end());
  return values;
}

}  // namespace sb
