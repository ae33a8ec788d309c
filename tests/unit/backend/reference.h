#pragma once
// Float64 references and random inputs for the backend tests. Every test draws
// a fresh seed (printed on failure) so repeated runs cover new inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "util/error.h"

namespace sb::test {

inline uint64_t fresh_seed() {
  static std::random_device device;
  return (uint64_t(device()) << 32) | device();
}

// Uniform in [lo, hi).
inline std::vector<float> random_floats(std::mt19937_64& rng, int64_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = dist(rng);
  return values;
}

inline Tensor host_tensor(Backend& backend, std::vector<int64_t> shape, const std::vector<float>& values) {
  return backend.from_host(DType::F32, std::move(shape), values.data());
}

// out[t, n] = sum_p x[t, p] w[n, p], plus the sum of |terms| that bounds fp32 rounding.
struct MatmulReference {
  std::vector<double> out, magnitude;
};
inline MatmulReference reference_matmul(const std::vector<float>& x, const std::vector<float>& w, int64_t tokens,
                                        int64_t n, int64_t k) {
  MatmulReference ref{std::vector<double>(size_t(tokens * n)), std::vector<double>(size_t(tokens * n))};
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, magnitude = 0;
      for (int64_t p = 0; p < k; ++p) {
        double term = double(x[size_t(t * k + p)]) * double(w[size_t(j * k + p)]);
        sum += term;
        magnitude += std::fabs(term);
      }
      ref.out[size_t(t * n + j)] = sum;
      ref.magnitude[size_t(t * n + j)] = magnitude;
    }
  }
  return ref;
}

struct AttentionReference {
  std::vector<double> out;  // [tq, hq, d]
  std::vector<double> lse;  // [tq, hq]
};
// Softmax attention in double over the keys the mask shows; rows with none: out 0, lse -inf.
inline AttentionReference reference_attention(const std::vector<float>& q, const std::vector<float>& k,
                                              const std::vector<float>& v, int64_t tq, int64_t tk, int64_t hq,
                                              int64_t hkv, int64_t d, AttentionMask mask, double scale) {
  AttentionReference ref{std::vector<double>(size_t(tq * hq * d)), std::vector<double>(size_t(tq * hq))};
  const int64_t group = hq / hkv;
  for (int64_t i = 0; i < tq; ++i) {
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t g = h / group;
      std::vector<double> scores;
      std::vector<int64_t> keys;
      for (int64_t j = 0; j < tk; ++j) {
        if (!mask.visible(i, j)) continue;
        double s = 0;
        for (int64_t c = 0; c < d; ++c) s += double(q[size_t((i * hq + h) * d + c)]) * k[size_t((j * hkv + g) * d + c)];
        scores.push_back(s * scale);
        keys.push_back(j);
      }
      if (keys.empty()) {
        ref.lse[size_t(i * hq + h)] = -std::numeric_limits<double>::infinity();
        continue;
      }
      double max = scores[0];
      for (double s : scores) max = std::max(max, s);
      double total = 0;
      for (double& s : scores) total += (s = std::exp(s - max));
      for (size_t n = 0; n < keys.size(); ++n) {
        for (int64_t c = 0; c < d; ++c) {
          ref.out[size_t((i * hq + h) * d + c)] += scores[n] / total * v[size_t((keys[n] * hkv + g) * d + c)];
        }
      }
      ref.lse[size_t(i * hq + h)] = max + std::log(total);
    }
  }
  return ref;
}

// Largest |got - want| / (1 + |want|); equal infinities count as 0.
template <typename Want>
double max_relative_error(const std::vector<float>& got, const std::vector<Want>& want) {
  EXPECT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    if (std::isinf(double(want[i])) || std::isinf(got[i])) {
      if (double(got[i]) != double(want[i])) return std::numeric_limits<double>::infinity();
      continue;
    }
    if (std::isnan(got[i])) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])) / (1.0 + std::fabs(double(want[i]))));
  }
  return worst;
}

}  // namespace sb::test
