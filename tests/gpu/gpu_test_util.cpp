#include "gpu_test_util.h"

#include <chrono>
#include <cmath>
#include <limits>

namespace sb::test {

CudaBackend& gpu() {
  static CudaBackend backend(0);
  return backend;
}

uint64_t fresh_seed() {
  static uint64_t counter = 0;
  return uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) + 7919 * ++counter;
}

HostBf16 random_bf16(int64_t count, std::mt19937_64& rng, float low, float high) {
  std::uniform_real_distribution<float> dist(low, high);
  HostBf16 out;
  out.values.resize(size_t(count));
  out.bits.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) {
    out.bits[size_t(i)] = f32_to_bf16(dist(rng));
    out.values[size_t(i)] = bf16_to_f32(out.bits[size_t(i)]);
  }
  return out;
}

Tensor upload_bf16(Backend& backend, const HostBf16& data, std::vector<int64_t> shape) {
  return backend.from_host(DType::BF16, std::move(shape), data.bits.data());
}

Tensor poisoned(Backend& backend, DType dtype, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (dtype == DType::BF16) {
    std::vector<uint16_t> nan(size_t(n), uint16_t(0x7fc0));
    return backend.from_host(dtype, std::move(shape), nan.data());
  }
  std::vector<float> nan(size_t(n), std::numeric_limits<float>::quiet_NaN());
  return backend.from_host(DType::F32, std::move(shape), nan.data());
}

double relative_error(const std::vector<float>& a, const std::vector<double>& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return std::numeric_limits<double>::infinity();
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += b[i] * b[i];
  }
  return norm == 0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

}  // namespace sb::test
