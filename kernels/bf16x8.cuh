#pragma once
// Eight bf16 values at a time: one 16-byte load (uint4) seen as four
// __nv_bfloat162 pairs, combined element by element in float.
#include <cuda_bf16.h>

namespace sb::kernels {

// op(a[j], b[j]) in float for each of the eight lanes, rounded to bf16.
template <typename Op>
__device__ __forceinline__ uint4 combine_bf16x8(uint4 a, uint4 b, Op op) {
  uint4 out;
  const __nv_bfloat162* pa = reinterpret_cast<const __nv_bfloat162*>(&a);
  const __nv_bfloat162* pb = reinterpret_cast<const __nv_bfloat162*>(&b);
  __nv_bfloat162* po = reinterpret_cast<__nv_bfloat162*>(&out);
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 fa = __bfloat1622float2(pa[j]), fb = __bfloat1622float2(pb[j]);
    po[j] = __floats2bfloat162_rn(op(fa.x, fb.x), op(fa.y, fb.y));
  }
  return out;
}

}  // namespace sb::kernels
