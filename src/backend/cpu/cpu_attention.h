#pragma once
// Flash-style attention on host fp32 arrays: online softmax over key tiles, so
// the working set is a few tiles whatever the sequence lengths.
#include <cstdint>

#include "backend/backend.h"

namespace sb::cpu {

// q [tq, hq, d], k and v [tk, hkv, d], out [tq, hq, d], lse [tq, hq]; all
// contiguous. Query head h reads kv head h / (hq / hkv). A row with no visible
// key gets out 0 and lse -inf. Multithreaded over (kv head, query tile).
void attention(const float* q, const float* k, const float* v, int64_t tq, int64_t tk, int64_t hq, int64_t hkv,
               int64_t d, AttentionMask mask, float scale, float* out, float* lse);

}  // namespace sb::cpu
