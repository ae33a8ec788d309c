#pragma once
// Deterministic random numbers for task generation. Our own generator and range
// reduction (not std:: distributions, whose output differs between standard
// libraries), so a seed gives the same bytes everywhere.
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace sb {

class TaskRng {
 public:
  explicit TaskRng(uint64_t seed) : state_(seed) {}
  uint64_t next() {  // SplitMix64
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; the tiny bias is irrelevant here).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  int64_t between(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1))); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

 private:
  uint64_t state_;
};

// Stable seed for one sample: FNV-1a of the task name mixed with seed and index.
inline uint64_t sample_seed(std::string_view task, uint64_t seed, int64_t index) {
  uint64_t h = 1469598103934665603ull;
  for (char c : task) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  TaskRng mix(h ^ (seed * 0x9E3779B97F4A7C15ull) ^ (static_cast<uint64_t>(index) << 1));
  mix.next();
  return mix.next();
}

}  // namespace sb
