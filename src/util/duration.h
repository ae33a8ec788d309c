#pragma once
// Durations as progress lines print them.
#include <string>

namespace sb {

// "42s", "3m07s", "2h05m": the two largest units, hours uncapped.
std::string format_duration(double seconds);

}  // namespace sb
