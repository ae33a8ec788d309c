#include "backend/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_gemm.h"

namespace sb::cpu {
namespace {

constexpr int64_t kQueryTile = 32;  // query tokens per task
constexpr int64_t kKeyTile = 64;    // keys per online-softmax step
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Keys [0, end) are visible to query row i; clamp to [0, tk].
int64_t visible_end(const AttentionMask& mask, int64_t i, int64_t tk) {
  if (mask.kind == AttentionMask::Kind::None) return tk;
  return std::clamp<int64_t>(i + mask.causal_offset + 1, 0, tk);
}

// Streaming mask: the first key of query row i's window (keys before it, other
// than the sink, are hidden).
int64_t window_begin(const AttentionMask& mask, int64_t i) {
  return std::max<int64_t>(0, i + mask.causal_offset - mask.window + 1);
}

// The key ranges a tile of query rows [i0, i_last] reads: all keys up to the
// last row's causal end, or, under the streaming mask, the sink and the union
// of the rows' windows (disjoint: the window range starts at or after the sink's end).
struct KeyRanges {
  int64_t begin[2] = {0, 0}, end[2] = {0, 0};
  int count = 0;
};
KeyRanges tile_key_ranges(const AttentionMask& mask, int64_t i0, int64_t i_last, int64_t tk) {
  KeyRanges ranges;
  const int64_t keys_end = visible_end(mask, i_last, tk);
  if (mask.kind != AttentionMask::Kind::Streaming) {
    ranges.end[0] = keys_end;
    ranges.count = 1;
    return ranges;
  }
  const int64_t sink_end = std::min(std::max<int64_t>(mask.sink, 0), keys_end);
  ranges.end[0] = sink_end;
  ranges.begin[1] = std::max(sink_end, window_begin(mask, i0));
  ranges.end[1] = std::max(ranges.begin[1], keys_end);
  ranges.count = 2;
  return ranges;
}

// One task's working set: the `group` query heads that share one kv head, for
// one tile of query tokens, stacked as group * rows (row gi * rows + t is head
// gi, token t) so that each key tile costs two GEMMs.
struct Workspace {
  std::vector<float> queries;  // [group * kQueryTile, d], pre-multiplied by the scale
  std::vector<float> keys_t;   // [d, kKeyTile]: the key tile transposed, zero-padded
  std::vector<float> scores;   // [group * kQueryTile, kKeyTile]; becomes probabilities in place
  std::vector<float> acc;      // [group * kQueryTile, d]: unnormalised output
  std::vector<float> max;      // [group * kQueryTile]: running max of the scaled scores
  std::vector<float> sum;      // [group * kQueryTile]: running softmax denominator (relative to max)

  Workspace(int64_t group, int64_t d)
      : queries(size_t(group * kQueryTile * d)), keys_t(size_t(d * kKeyTile)),
        scores(size_t(group * kQueryTile * kKeyTile)), acc(size_t(group * kQueryTile * d)),
        max(size_t(group * kQueryTile)), sum(size_t(group * kQueryTile)) {}
};

}  // namespace

void attention(const float* q, const float* k, const float* v, int64_t tq, int64_t tk, int64_t hq, int64_t hkv,
               int64_t d, AttentionMask mask, float scale, float* out, float* lse) {
  const int64_t group = hq / hkv;
  const int64_t query_tiles = (tq + kQueryTile - 1) / kQueryTile;
  const int64_t q_stride = hq * d, kv_stride = hkv * d;

#pragma omp parallel
  {
    Workspace ws(group, d);
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t g = 0; g < hkv; ++g) {
      for (int64_t tile = 0; tile < query_tiles; ++tile) {
        const int64_t i0 = tile * kQueryTile, rows = std::min(kQueryTile, tq - i0);
        const int64_t stacked = group * rows;
        for (int64_t gi = 0; gi < group; ++gi) {
          for (int64_t t = 0; t < rows; ++t) {
            float* dst = ws.queries.data() + (gi * rows + t) * d;
            const float* src = q + (i0 + t) * q_stride + (g * group + gi) * d;
            for (int64_t c = 0; c < d; ++c) dst[c] = src[c] * scale;
          }
        }
        std::fill(ws.acc.begin(), ws.acc.end(), 0.f);
        std::fill(ws.max.begin(), ws.max.end(), kNegInf);
        std::fill(ws.sum.begin(), ws.sum.end(), 0.f);
        // The last row of the tile sees the most keys; under the streaming mask
        // only the sink and the rows' windows are read (O(sink + window) per row).
        const KeyRanges ranges = tile_key_ranges(mask, i0, i0 + rows - 1, tk);
        for (int range = 0; range < ranges.count; ++range) {
          for (int64_t j0 = ranges.begin[range]; j0 < ranges.end[range]; j0 += kKeyTile) {
            const int64_t keys = std::min(kKeyTile, ranges.end[range] - j0);
            const bool in_window = range == 1;  // the streaming mask's window keys
            for (int64_t c = 0; c < d; ++c) {
              float* dst = ws.keys_t.data() + c * kKeyTile;
              const float* src = k + j0 * kv_stride + g * d + c;
              for (int64_t j = 0; j < keys; ++j) dst[j] = src[j * kv_stride];
              std::fill(dst + keys, dst + kKeyTile, 0.f);
            }
            gemm(stacked, kKeyTile, d, ws.queries.data(), d, ws.keys_t.data(), kKeyTile, ws.scores.data(), kKeyTile,
                 false);
            for (int64_t r = 0; r < stacked; ++r) {
              float* s = ws.scores.data() + r * kKeyTile;
              // This row sees keys [j0 + lo, j0 + hi) of the tile.
              const int64_t i = i0 + r % rows;
              const int64_t hi = std::clamp<int64_t>(visible_end(mask, i, tk) - j0, 0, keys);
              const int64_t lo = in_window ? std::clamp<int64_t>(window_begin(mask, i) - j0, 0, hi) : 0;
              float tile_max = kNegInf;
              for (int64_t j = lo; j < hi; ++j) tile_max = std::max(tile_max, s[j]);
              const float new_max = std::max(ws.max[size_t(r)], tile_max);
              if (new_max == kNegInf) {  // nothing visible yet: this row stays empty
                std::fill(s, s + kKeyTile, 0.f);
                continue;
              }
              float tile_sum = 0.f;
              for (int64_t j = lo; j < hi; ++j) {
                s[j] = std::exp(s[j] - new_max);
                tile_sum += s[j];
              }
              std::fill(s, s + lo, 0.f);
              std::fill(s + hi, s + kKeyTile, 0.f);
              const float rescale = std::exp(ws.max[size_t(r)] - new_max);  // 0 when the old max was -inf
              if (rescale != 1.f) {
                float* acc_row = ws.acc.data() + r * d;
                for (int64_t c = 0; c < d; ++c) acc_row[c] *= rescale;
              }
              ws.sum[size_t(r)] = ws.sum[size_t(r)] * rescale + tile_sum;
              ws.max[size_t(r)] = new_max;
            }
            gemm(stacked, d, keys, ws.scores.data(), kKeyTile, v + j0 * kv_stride + g * d, kv_stride, ws.acc.data(), d,
                 true);
          }
        }
        for (int64_t gi = 0; gi < group; ++gi) {
          const int64_t h = g * group + gi;
          for (int64_t t = 0; t < rows; ++t) {
            const int64_t i = i0 + t, r = gi * rows + t;
            const float total = ws.sum[size_t(r)];
            const float* acc_row = ws.acc.data() + r * d;
            float* out_row = out + i * q_stride + h * d;
            if (total > 0.f) {
              const float inverse = 1.f / total;
              for (int64_t c = 0; c < d; ++c) out_row[c] = acc_row[c] * inverse;
              lse[i * hq + h] = ws.max[size_t(r)] + std::log(total);
            } else {
              std::fill(out_row, out_row + d, 0.f);
              lse[i * hq + h] = kNegInf;
            }
          }
        }
      }
    }
  }
}

}  // namespace sb::cpu
