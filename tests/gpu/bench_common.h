#pragma once
// Timing helpers for the kernel benchmarks: CUDA events on the backend's
// stream, warm-up first, median of the repeats, random (never zero) data.
#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "model/weight_spec.h"

namespace sb::bench {

inline Tensor random_device(CudaBackend& backend, std::vector<int64_t> shape, uint64_t seed, float scale = 1.f) {
  WeightSpec spec;  // synthetic: uniform [-1, 1) * scale, generated on the device
  spec.name = "bench";
  spec.shape = std::move(shape);
  spec.seed = seed;
  spec.scale = scale;
  return backend.upload(spec);
}

// Median milliseconds of `repeats` timed runs after `warmup` untimed ones.
inline double median_ms(CudaBackend& backend, int warmup, int repeats, const std::function<void()>& run) {
  for (int i = 0; i < warmup; ++i) run();
  backend.synchronize();
  std::vector<double> times;
  auto timer = backend.make_timer();
  for (int i = 0; i < repeats; ++i) {
    timer->start();
    run();
    timer->stop();
    times.push_back(timer->elapsed_ms());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

inline std::vector<int64_t> parse_list(const char* text) {
  std::vector<int64_t> values;
  std::string s(text);
  size_t at = 0;
  while (at < s.size()) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    values.push_back(std::atoll(s.substr(at, comma - at).c_str()));
    at = comma + 1;
  }
  return values;
}

// Dense bf16 tensor-core peak of the device, TFLOP/s (datasheet, dense).
inline double peak_tflops(const std::string& device) {
  if (device.find("H200") != std::string::npos || device.find("H100") != std::string::npos) {
    if (device.find("PCIe") != std::string::npos) return 756.0;
    return 989.0;
  }
  return 0.0;
}

}  // namespace sb::bench
