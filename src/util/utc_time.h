#pragma once
// The wall clock as records and hardware profiles write it.
#include <string>

namespace sb {

// Now, in UTC, ISO 8601 to the second: "2026-11-30T22:12:05Z".
std::string utc_timestamp();

}  // namespace sb
