#pragma once
// What the unit tests of a reader need to check its refusals: the message of
// the sb::Error a call throws, and a file in the temp directory to read.
#include <filesystem>
#include <fstream>
#include <string>

#include "util/error.h"

namespace sb::testing {

// The message of the sb::Error that `call` throws, or `when_none` when it
// returns normally ("" by default: how a test says good input is accepted).
template <class Call>
std::string error_message_of(Call&& call, const std::string& when_none = "") {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  return when_none;
}

// Writes `text` to the file `name` in the temp directory; returns its path.
inline std::string write_temp_file(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}

}  // namespace sb::testing
