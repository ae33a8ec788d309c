#pragma once
// H5_CHECK names the failed HDF5 call, what it was working on, the source line and
// the rank. HDF5's own error-stack printing is switched off (silence_hdf5_errors)
// so the user sees one sb::Error instead of a screenful of library internals; the
// innermost HDF5 reason is appended to our message.
#include <hdf5.h>

#include <algorithm>
#include <string>

#include "util/error.h"

namespace sb {

// Turns off HDF5's automatic error-stack printing for this thread. Every HDF5
// entry point of src/io calls it first, which makes it the place to keep HDF5
// from installing its exit-time cleanup: HDF5 1.10 leaves a file whose H5Fclose
// failed (a full disk) half-closed in its id table, and that cleanup segfaults on
// it at exit, after the error was reported. The store closes every file it opens,
// so nothing is lost by skipping it.
inline void silence_hdf5_errors() {
  static const bool no_exit_cleanup = H5dont_atexit() >= 0;
  (void)no_exit_cleanup;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

// HDF5's failed system calls read "file write failed: time = ..., filename = ...,
// file descriptor = 19, errno = 28, error message = 'No space left on device', buf
// = ...": keep what failed and the system's reason.
inline std::string compact_hdf5_reason(const std::string& description) {
  const std::string marker = "error message = '";
  const size_t start = description.find(marker);
  if (start == std::string::npos) return description;
  const size_t end = description.find('\'', start + marker.size());
  const std::string what = description.substr(0, std::min(description.find(':'), start));
  return what + ": " + description.substr(start + marker.size(), end == std::string::npos ? end : end - start - marker.size());
}

// The deepest description on HDF5's current error stack ("" when empty).
inline std::string hdf5_error_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* entry, void* data) -> herr_t {
        auto* text = static_cast<std::string*>(data);
        if (text->empty() && entry->desc) *text = entry->desc;
        return 0;
      },
      &reason);
  return compact_hdf5_reason(reason);
}

template <typename T>
T h5_check(T result, const char* call, const std::string& what, const char* file, int line) {
  if (result < 0) {
    const std::string reason = hdf5_error_reason();
    fail("rank {}: HDF5 call {} failed for {} at {}:{}{}", current_rank(), call, what, file, line,
         reason.empty() ? std::string() : " (HDF5: " + reason + ")");
  }
  return result;
}

}  // namespace sb

// `what` names the file / object the call works on, e.g. "results.h5:/runs/run_000003".
#define H5_CHECK(call, what) ::sb::h5_check((call), #call, (what), __FILE__, __LINE__)
