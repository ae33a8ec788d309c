// H5_CHECK: a failed HDF5 call becomes one sb::Error naming the call, the object,
// the source line and the rank, with HDF5's own reason appended.
#include "io/check_h5.h"

#include <gtest/gtest.h>

namespace sb {
namespace {

TEST(CheckH5, FailedCallNamesCallObjectAndReason) {
  silence_hdf5_errors();
  try {
    H5_CHECK(H5Fopen("/no/such/file.h5", H5F_ACC_RDONLY, H5P_DEFAULT), "results.h5");
    FAIL() << "H5_CHECK did not throw";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("H5Fopen(\"/no/such/file.h5\""), std::string::npos) << message;
    EXPECT_NE(message.find("results.h5"), std::string::npos) << message;
    EXPECT_NE(message.find("check_h5_test.cpp"), std::string::npos) << message;
    EXPECT_NE(message.find("rank "), std::string::npos) << message;
    EXPECT_NE(message.find("(HDF5: "), std::string::npos) << message;
  }
}

TEST(CheckH5, SuccessPassesTheValueThrough) {
  const hid_t space = H5_CHECK(H5Screate(H5S_SCALAR), "scalar space");
  EXPECT_GE(space, 0);
  EXPECT_EQ(H5_CHECK(H5Sclose(space), "scalar space"), 0);
}

}  // namespace
}  // namespace sb
