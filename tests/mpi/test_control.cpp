// Control::agree_on: an sb::Error on any rank ends every rank with the same
// CollectiveError; a value computed by fn comes back on every rank.
#include <gtest/gtest.h>

#include <string>

#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

TEST(Control, AgreeOnReturnsTheValueWhenNoRankFails) {
  const int value = Control::agree_on([] { return Control::rank() * 10; });
  EXPECT_EQ(value, Control::rank() * 10);
  int calls = 0;
  Control::agree_on([&] { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(Control, AgreeOnRaisesTheFirstFailingRanksMessageEverywhere) {
  const int failing = Control::size() - 1;
  try {
    Control::agree_on([&] {
      SB_REQUIRE(Control::rank() != failing, "rank {} cannot", Control::rank());
      return 1;
    });
    ADD_FAILURE() << "no error";
  } catch (const CollectiveError& error) {
    EXPECT_EQ(std::string(error.what()), "rank " + std::to_string(failing) + " cannot");
  }
}

TEST(Control, AgreeOnRootRunsOnRankZeroAlone) {
  int calls = 0;
  Control::agree_on_root([&] { ++calls; });
  EXPECT_EQ(calls, Control::is_root() ? 1 : 0);
  try {
    Control::agree_on_root([] { fail("the file is not writable"); });
    ADD_FAILURE() << "no error";
  } catch (const CollectiveError& error) {
    EXPECT_EQ(std::string(error.what()), "the file is not writable");  // reached every rank
  }
}

}  // namespace
}  // namespace sb
