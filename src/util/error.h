#pragma once
// One exception type for every user-facing failure. The CLI catches it, prints
// the message once (rank-prefixed) and makes every rank exit non-zero.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace sb {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// An error every rank raised together (through Control::agree): printed once,
// by rank 0, and every rank exits non-zero without MPI_Abort.
class CollectiveError : public Error {
 public:
  explicit CollectiveError(const std::string& message) : Error(message) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Rank of this process in MPI_COMM_WORLD, or -1 before MPI is initialised.
// Used by the error-check macros so a message names the rank that failed.
int current_rank();

}  // namespace sb

#define SB_REQUIRE(cond, ...)          \
  do {                                 \
    if (!(cond)) ::sb::fail(__VA_ARGS__); \
  } while (0)
