#pragma once
// Checks that a failure on any rank ends every rank with one agreed message.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "util/control.h"
#include "util/error.h"

namespace sb::testing {

// Runs `attempt` on every rank; the sb::Error it throws (on any rank) must
// reach every rank through Control::agree_on as a CollectiveError naming `fragment`.
inline void expect_collective_error(const std::function<void()>& attempt, const std::string& fragment) {
  try {
    Control::agree_on(attempt);
    ADD_FAILURE() << "expected an error containing '" << fragment << "'";
  } catch (const CollectiveError& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

}  // namespace sb::testing
