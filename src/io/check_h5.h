#pragma once
// H5_CHECK names the failed HDF5 call, what it was working on, the source line and
// the rank. HDF5's own error-stack printing is switched off (silence_hdf5_errors)
// so the user sees one sb::Error instead of a screenful of library internals; the
// innermost HDF5 reason is appended to our message.
#include <hdf5.h>

#include <string>

#include "util/error.h"

namespace sb {

// Turns off HDF5's automatic error-stack printing for this thread.
inline void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

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
  return reason;
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
