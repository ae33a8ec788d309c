// Per-kind KV storage (DuoAttention): head selections, caches that keep some
// heads, and the streaming cache (sink + recent window), on the cpu backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "backend/backend_factory.h"
#include "engine/head_selection.h"
#include "engine/kv_cache.h"
#include "engine/streaming_kv_cache.h"
#include "util/error.h"

namespace sb {
namespace {

// [rows, heads, d] whose element (t, h, e) is 1000 * (first_position + t) + 10 * h + e:
// every value says where it came from.
Tensor labelled(Backend& backend, int64_t rows, int64_t heads, int64_t d, int64_t first_position = 0) {
  std::vector<float> values(size_t(rows * heads * d));
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t e = 0; e < d; ++e) {
        values[size_t((t * heads + h) * d + e)] = float(1000 * (first_position + t) + 10 * h + e);
      }
  return backend.from_host(DType::F32, {rows, heads, d}, values.data());
}

// The position (value / 1000) and head ((value % 1000) / 10) of row t, packed head i.
std::pair<int64_t, int64_t> origin(Backend& backend, const Tensor& packed, int64_t t, int64_t i) {
  const std::vector<float> values = backend.to_host_f32(packed);
  const int64_t value = int64_t(values[size_t((t * packed.dim(1) + i) * packed.dim(2))]);
  return {value / 1000, (value % 1000) / 10};
}

TEST(HeadSelection, PacksAndUnpacksRunsOfHeads) {
  auto backend = make_backend("cpu", 0);
  const HeadSelection kv({0, 2, 3}, 4);
  EXPECT_EQ(kv.size(), 3);
  EXPECT_FALSE(kv.is_all());
  const HeadSelection q = kv.expand(2);  // GQA: kv head g -> query heads 2g, 2g + 1
  EXPECT_EQ(q.heads(), (std::vector<int64_t>{0, 1, 4, 5, 6, 7}));
  Tensor full = labelled(*backend, 5, 4, 3);
  Tensor packed = kv.packed(*backend, full);
  ASSERT_EQ(packed.shape(), (std::vector<int64_t>{5, 3, 3}));
  for (int64_t t = 0; t < 5; ++t) {
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(origin(*backend, packed, t, i), std::make_pair(t, kv.heads()[size_t(i)]));
  }
  // Unpacking writes the selected heads and leaves the others alone.
  Tensor target = backend->from_host(DType::F32, {5, 4, 3}, std::vector<float>(60, -1.f).data());
  kv.scatter(*backend, target, 0, packed, 0, 5);
  const std::vector<float> back = backend->to_host_f32(target), original = backend->to_host_f32(full);
  for (int64_t t = 0; t < 5; ++t)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t e = 0; e < 3; ++e) {
        const size_t at = size_t((t * 4 + h) * 3 + e);
        EXPECT_EQ(back[at], h == 1 ? -1.f : original[at]) << t << " " << h << " " << e;
      }
  // Every head: the tensor itself, no copy.
  EXPECT_EQ(HeadSelection::all(4).packed(*backend, full).data(), full.data());
  EXPECT_THROW(HeadSelection({2, 1}, 4), Error);
  EXPECT_THROW(HeadSelection({4}, 4), Error);
}

TEST(KvCache, PerKindStorageKeepsOnlyItsHeads) {
  auto backend = make_backend("cpu", 0);
  KvCache cache(*backend, 10, {HeadSelection({1}, 3), HeadSelection({}, 3), HeadSelection::all(3)}, 2);
  Tensor k = labelled(*backend, 6, 3, 2), v = labelled(*backend, 6, 3, 2, 100);
  for (int layer = 0; layer < 3; ++layer) cache.append(layer, k, v, 2, 6);
  EXPECT_EQ(cache.keys(0).shape(), (std::vector<int64_t>{4, 1, 2}));
  EXPECT_EQ(cache.keys(1).shape(), (std::vector<int64_t>{4, 0, 2}));  // no heads, length still kept
  EXPECT_EQ(cache.length(1), 4);
  EXPECT_EQ(cache.keys(2).shape(), (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(origin(*backend, cache.keys(0), 0, 0), std::make_pair(int64_t(2), int64_t(1)));
  EXPECT_EQ(origin(*backend, cache.values(0), 3, 0), std::make_pair(int64_t(105), int64_t(1)));
  EXPECT_EQ(origin(*backend, cache.keys(2), 1, 2), std::make_pair(int64_t(3), int64_t(2)));
  // Storage: (1 + 0 + 3) heads x 10 rows x 2 x (K, V) floats.
  EXPECT_EQ(cache.bytes(), size_t(4 * 10 * 2 * 2 * 4));
  EXPECT_EQ(cache.bytes(), KvCache::bytes_needed(1, 10, 4, 2, DType::F32));
  EXPECT_THROW(cache.append(0, k, v, 0, 7), Error);  // 4 + 7 rows > 10
}

// The positions a streaming cache holds (the window is a ring: sorted here).
std::vector<int64_t> positions_held(Backend& backend, const StreamingKvCache& cache, int layer) {
  std::vector<int64_t> positions;
  for (int64_t row = 0; row < cache.rows(layer); ++row) {
    positions.push_back(origin(backend, cache.keys(layer), row, 0).first);
    EXPECT_EQ(origin(backend, cache.values(layer), row, 0).first, positions.back());
  }
  std::sort(positions.begin(), positions.end());
  return positions;
}

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> values(size_t(std::max<int64_t>(0, end - begin)));
  std::iota(values.begin(), values.end(), begin);
  return values;
}

// extend() returns the keys new tokens attend to and a mask on their rows:
// checked against the rule on absolute positions, j <= i and (j < sink or i - j < recent),
// as tokens arrive in chunks of several sizes (chunks of one: the decoding
// path, straight into the ring); the cache never holds more than sink + recent.
TEST(StreamingKvCache, ExtendFollowsThePositionRuleAndStaysBounded) {
  auto backend = make_backend("cpu", 0);
  for (auto [sink, recent] : {std::pair<int64_t, int64_t>{3, 5}, {0, 4}, {6, 1}, {2, 40}}) {
    SCOPED_TRACE(testing::Message() << "sink " << sink << " recent " << recent);
    StreamingKvCache cache(*backend, {HeadSelection({0, 2}, 3)}, 2, sink, recent);  // heads 0 and 2 of 3
    int64_t seen = 0;
    for (int64_t chunk : {1, 2, 7, 1, 1, 13, 4, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1}) {
      Tensor k = labelled(*backend, chunk, 3, 2, seen), v = labelled(*backend, chunk, 3, 2, seen);
      const StreamingKvCache::Keys keys = cache.extend(0, k, v);
      // Row r of the returned keys is position p[r] (head 1 of the keys is the
      // input's head 2); query i is position seen + i.
      std::vector<int64_t> p;
      for (int64_t r = 0; r < keys.k.dim(0); ++r) {
        p.push_back(origin(*backend, keys.k, r, 1).first);
        EXPECT_EQ(origin(*backend, keys.k, r, 1).second, 2);
        EXPECT_EQ(origin(*backend, keys.v, r, 0), std::make_pair(p.back(), int64_t(0)));
      }
      for (int64_t i = 0; i < chunk; ++i) {
        const int64_t position = seen + i;
        // Every position the rule shows is among the rows, and the mask agrees with the rule on each row.
        int64_t shown = 0;
        for (int64_t r = 0; r < int64_t(p.size()); ++r) {
          const bool rule = p[size_t(r)] <= position && (p[size_t(r)] < sink || position - p[size_t(r)] < recent);
          EXPECT_EQ(keys.mask.visible(i, r), rule) << "query " << position << " key " << p[size_t(r)];
          shown += rule;
        }
        int64_t expected = 0;
        for (int64_t j = 0; j <= position; ++j) expected += j < sink || position - j < recent;
        EXPECT_EQ(shown, expected) << "query " << position;
      }
      seen += chunk;
      EXPECT_LE(cache.rows(0), sink + recent);
      // Held: the sink and the last `recent` positions.
      std::vector<int64_t> want = range(0, std::min(sink, seen));
      for (int64_t position : range(std::max(sink, seen - recent), seen)) want.push_back(position);
      EXPECT_EQ(positions_held(*backend, cache, 0), want);
    }
    EXPECT_EQ(cache.bytes(), size_t((sink + recent) * 2 * 2 * 2 * 4));  // [sink + recent, 2 heads, 2] x (K, V) floats
  }
}

// Star + duo fills the cache from phase-1 rows at known positions.
TEST(StreamingKvCache, TakeKeepsTheSinkAndTheLastRecentPositions) {
  auto backend = make_backend("cpu", 0);
  StreamingKvCache cache(*backend, {HeadSelection({1}, 3)}, 2, 4, 6);
  Tensor anchor_block = labelled(*backend, 8 + 10, 3, 2);  // anchor rows = positions 0..7, then the block's
  // The anchor's first rows are the sink; the block holds positions 20..29 (rows 8..17).
  cache.take(0, anchor_block, anchor_block, 0, 4, 0);
  Tensor block = labelled(*backend, 18, 3, 2, 12);  // rows 8..17 are positions 20..29
  cache.take(0, block, block, 8, 10, 20);
  EXPECT_EQ(cache.sink_rows(0), 4);
  EXPECT_EQ(cache.window_rows(0), 6);
  EXPECT_EQ(positions_held(*backend, cache, 0), (std::vector<int64_t>{0, 1, 2, 3, 24, 25, 26, 27, 28, 29}));
  // The next forward (positions 30, 31) sees the sink and positions > position - 6.
  Tensor k = labelled(*backend, 2, 3, 2, 30);
  const StreamingKvCache::Keys keys = cache.extend(0, k, k);
  std::vector<int64_t> p;
  for (int64_t r = 0; r < keys.k.dim(0); ++r) p.push_back(origin(*backend, keys.k, r, 0).first);
  EXPECT_EQ(p, (std::vector<int64_t>{0, 1, 2, 3, 24, 25, 26, 27, 28, 29, 30, 31}));
  EXPECT_TRUE(keys.mask.visible(0, 0) && keys.mask.visible(0, 5) && !keys.mask.visible(0, 4));
  // A gap in the window's positions is refused.
  EXPECT_THROW(cache.take(0, block, block, 8, 2, 40), Error);
  // Decoding (one token) writes into the ring and sees every held row.
  const StreamingKvCache::Keys one = cache.extend(0, labelled(*backend, 1, 3, 2, 32), labelled(*backend, 1, 3, 2, 32));
  EXPECT_EQ(one.mask.kind, AttentionMask::Kind::None);
  EXPECT_EQ(one.k.dim(0), 10);
  EXPECT_EQ(positions_held(*backend, cache, 0), (std::vector<int64_t>{0, 1, 2, 3, 27, 28, 29, 30, 31, 32}));
}

}  // namespace
}  // namespace sb
