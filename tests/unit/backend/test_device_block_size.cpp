// The cuda allocator's block sizes, which the simulator's memory counts share
// (backend/device_block_size.h): the boundaries of the two size classes.
#include <gtest/gtest.h>

#include "backend/device_block_size.h"

namespace sb {
namespace {

TEST(DeviceBlockSize, SmallTo512BytesLargeTo2MiB) {
  constexpr size_t KiB = 1024, MiB = 1024 * KiB;
  EXPECT_EQ(device_block_size(0), 512u);  // a zero-byte tensor still gets a block
  EXPECT_EQ(device_block_size(1), 512u);
  EXPECT_EQ(device_block_size(512), 512u);
  EXPECT_EQ(device_block_size(513), 1024u);
  EXPECT_EQ(device_block_size(MiB - 1), MiB);  // the last small size rounds to 1 MiB exactly
  EXPECT_EQ(device_block_size(MiB), 2 * MiB);  // from 1 MiB on, 2 MiB granules
  EXPECT_EQ(device_block_size(2 * MiB), 2 * MiB);
  EXPECT_EQ(device_block_size(2 * MiB + 1), 4 * MiB);
  EXPECT_EQ(device_block_size(size_t(1) << 34), size_t(1) << 34);
  static_assert(device_block_size(100) == 512, "usable in constant expressions");
}

}  // namespace
}  // namespace sb
