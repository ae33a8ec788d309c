#pragma once
// The log-sum-exp merge of two partial attention results over disjoint key
// sets: the one formula ring, star phase 2 and decode use, shared by the cpu
// backend and the cuda kernel so both round alike. It lives in kernels/ (below
// src/backend/ in docs/DESIGN.md's layers) and is plain C++ outside nvcc, so
// the cpu backend includes it in a build without CUDA too.
//
//   m = max(l1, l2); w1 = exp(l1 - m); w2 = exp(l2 - m)
//   out = (w1 * o1 + w2 * o2) / (w1 + w2);  lse = m + log(w1 + w2)
//
// A side with lse -inf saw no key and contributes nothing; both -inf gives
// out 0 and lse -inf (a row that still saw no key).
#include <math.h>

#include "util/host_device.h"

namespace sb {

struct LseMergeWeights {
  float first;   // multiplies o1: w1 / (w1 + w2)
  float second;  // multiplies o2: w2 / (w1 + w2)
  float lse;     // merged log-sum-exp
};

SB_HOST_DEVICE inline LseMergeWeights lse_merge_weights(float lse1, float lse2) {
  const float m = fmaxf(lse1, lse2);
  if (m == -INFINITY) return {0.f, 0.f, -INFINITY};
  // exp(-inf - m) is exactly 0, so a side that saw no key drops out.
  const float w1 = expf(lse1 - m), w2 = expf(lse2 - m);
  const float total = w1 + w2;
  return {w1 / total, w2 / total, m + logf(total)};
}

SB_HOST_DEVICE inline float lse_merge_value(const LseMergeWeights& weights, float o1, float o2) {
  return weights.first * o1 + weights.second * o2;
}

}  // namespace sb
