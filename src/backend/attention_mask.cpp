// AttentionMask's count of the (query, key) pairs it lets through: the work
// every backend counts for an attention call (Backend::work()).
#include <algorithm>

#include "backend/backend.h"

namespace sb {

double AttentionMask::visible_pairs(int64_t q_len, int64_t k_len) const {
  if (q_len <= 0 || k_len <= 0) return 0.0;
  if (kind == Kind::None) return double(q_len) * double(k_len);
  if (kind == Kind::Streaming) {
    // Causal, less the keys between the sink and each row's window: key j >=
    // sink with j <= i + offset - window, a causal count over keys [sink, k_len).
    const int64_t after_sink = std::max<int64_t>(0, k_len - std::max<int64_t>(sink, 0));
    return causal(causal_offset).visible_pairs(q_len, k_len) -
           causal(causal_offset - window - std::max<int64_t>(sink, 0)).visible_pairs(q_len, after_sink);
  }
  // Row i sees clamp(i + offset + 1, 0, k_len) keys: zero, then a ramp, then all.
  const int64_t shift = causal_offset + 1;
  const int64_t ramp_begin = std::clamp<int64_t>(1 - shift, 0, q_len);     // first row seeing a key
  const int64_t full_begin = std::clamp<int64_t>(k_len - shift, ramp_begin, q_len);  // first row seeing all
  const double ramp_rows = double(full_begin - ramp_begin);
  const double ramp = ramp_rows * double(shift) + (double(ramp_begin) + double(full_begin - 1)) * ramp_rows / 2.0;
  return ramp + double(q_len - full_begin) * double(k_len);
}

}  // namespace sb
