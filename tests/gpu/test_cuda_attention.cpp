// Attention on the GPU against a float64 reference: both paths (cuDNN fused
// attention and our flash kernel), the split-KV decode path, every mask kind
// (none, causal top-left, bottom-right, positive and negative offsets, fully
// masked rows), GQA ratios and head dims 64 and 128.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "gpu_test_util.h"

namespace sb {
namespace {

using namespace test;  // the helpers of gpu_test_util.h

struct Case {
  int64_t q_len, k_len, heads, kv_heads, d;
  AttentionMask mask;
  AttentionPath path;
  std::string expect_path;  // "" = do not check
  // K/V rows [poison_begin, poison_end) are NaN on the device (the reference
  // uses the clean values): a kernel that reads them fails.
  int64_t poison_begin = 0, poison_end = 0;
};

std::string describe(const Case& c) {
  std::string mask =
      c.mask.kind == AttentionMask::Kind::None ? "none" : "causal" + std::to_string(c.mask.causal_offset);
  if (c.mask.kind == AttentionMask::Kind::Streaming) {
    mask = "streaming offset " + std::to_string(c.mask.causal_offset) + " sink " + std::to_string(c.mask.sink) +
           " window " + std::to_string(c.mask.window);
  }
  return "q " + std::to_string(c.q_len) + " k " + std::to_string(c.k_len) + " H " + std::to_string(c.heads) + "/" +
         std::to_string(c.kv_heads) + " d " + std::to_string(c.d) + " mask " + mask;
}

// The bf16 bits with rows [begin, end) of a [rows, heads, d] tensor set to NaN.
test::HostBf16 with_nan_rows(test::HostBf16 data, int64_t row_elements, int64_t begin, int64_t end) {
  for (int64_t i = begin * row_elements; i < end * row_elements; ++i) data.bits[size_t(i)] = 0x7fc0;
  return data;
}

void check_case(const Case& c) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  auto q = random_bf16(c.q_len * c.heads * c.d, rng, -2.f, 2.f);
  auto k = random_bf16(c.k_len * c.kv_heads * c.d, rng, -2.f, 2.f);
  auto v = random_bf16(c.k_len * c.kv_heads * c.d, rng);
  Tensor out = poisoned(gpu(), DType::BF16, {c.q_len, c.heads, c.d});
  Tensor lse = poisoned(gpu(), DType::F32, {c.q_len, c.heads});
  const float scale = float(1.0 / std::sqrt(double(c.d)));
  gpu().set_attention_path(c.path);
  const int64_t kv_row = c.kv_heads * c.d;
  const std::vector<int64_t> kv_shape = {c.k_len, c.kv_heads, c.d};
  gpu().attention(upload_bf16(gpu(), q, {c.q_len, c.heads, c.d}),
                  upload_bf16(gpu(), with_nan_rows(k, kv_row, c.poison_begin, c.poison_end), kv_shape),
                  upload_bf16(gpu(), with_nan_rows(v, kv_row, c.poison_begin, c.poison_end), kv_shape), c.mask, scale,
                  out, lse);
  gpu().set_attention_path(AttentionPath::Auto);
  auto got = gpu().to_host_f32(out);
  auto got_lse = gpu().to_host_f32(lse);
  if (!c.expect_path.empty()) EXPECT_EQ(gpu().last_attention_path(), c.expect_path) << describe(c);

  const int64_t group = c.heads / c.kv_heads;
  std::vector<double> ref(got.size()), ref_lse(got_lse.size()), scores(size_t(c.k_len));
  for (int64_t t = 0; t < c.q_len; ++t)
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t kvh = h / group;
      double max = -INFINITY;
      for (int64_t j = 0; j < c.k_len; ++j) {
        if (!c.mask.visible(t, j)) {
          scores[size_t(j)] = -INFINITY;
          continue;
        }
        double dot = 0;
        for (int64_t i = 0; i < c.d; ++i)
          dot += double(q.values[size_t((t * c.heads + h) * c.d + i)]) * k.values[size_t((j * c.kv_heads + kvh) * c.d + i)];
        scores[size_t(j)] = dot * scale;
        max = std::max(max, scores[size_t(j)]);
      }
      double sum = 0;
      std::vector<double> acc(size_t(c.d), 0.0);
      if (max != -INFINITY)
        for (int64_t j = 0; j < c.k_len; ++j) {
          if (scores[size_t(j)] == -INFINITY) continue;
          double p = std::exp(scores[size_t(j)] - max);
          sum += p;
          for (int64_t i = 0; i < c.d; ++i) acc[size_t(i)] += p * v.values[size_t((j * c.kv_heads + kvh) * c.d + i)];
        }
      ref_lse[size_t(t * c.heads + h)] = sum > 0 ? max + std::log(sum) : -INFINITY;
      for (int64_t i = 0; i < c.d; ++i) ref[size_t((t * c.heads + h) * c.d + i)] = sum > 0 ? acc[size_t(i)] / sum : 0.0;
    }
  EXPECT_LT(relative_error(got, ref), 1e-2) << describe(c) << " seed " << seed;
  double worst = 0;
  for (size_t r = 0; r < ref_lse.size(); ++r) {
    if (std::isinf(ref_lse[r])) {
      ASSERT_EQ(got_lse[r], -INFINITY) << describe(c) << " fully masked row " << r;
      for (int64_t i = 0; i < c.d; ++i) ASSERT_EQ(got[r * size_t(c.d) + size_t(i)], 0.f) << describe(c);
    } else {
      ASSERT_FALSE(std::isnan(got_lse[r])) << describe(c) << " row " << r;
      worst = std::max(worst, std::abs(double(got_lse[r]) - ref_lse[r]));
    }
  }
  EXPECT_LT(worst, 1e-2) << describe(c) << " lse, seed " << seed;
}

using K = AttentionMask;

TEST(CudaAttentionFlash, EveryMaskKind) {
  for (int64_t d : {int64_t(64), int64_t(128)})
    for (auto [heads, kv_heads] : {std::pair<int64_t, int64_t>{4, 4}, {8, 2}, {8, 1}}) {
      check_case({130, 130, heads, kv_heads, d, K::none(), AttentionPath::Flash, "flash"});
      check_case({130, 130, heads, kv_heads, d, K::causal(0), AttentionPath::Flash, "flash"});
      check_case({70, 200, heads, kv_heads, d, K::bottom_right(70, 200), AttentionPath::Flash, "flash"});
      check_case({100, 150, heads, kv_heads, d, K::causal(37), AttentionPath::Flash, "flash"});
      // Negative offset: the first 40 queries see no key at all.
      check_case({120, 120, heads, kv_heads, d, K::causal(-40), AttentionPath::Flash, "flash"});
    }
}

// DuoAttention's streaming heads: sink + window (Λ) masks, on our kernel in
// every mode (auto must not pick cuDNN, which cannot mask them), any sink
// (inside or across a 64-key tile), prefill, a query after a cache, decode
// against a long KV (no split-KV), head dims 32/64/128 and GQA ratios.
TEST(CudaAttentionFlash, StreamingMask) {
  for (int64_t d : {int64_t(32), int64_t(64), int64_t(128)})
    for (auto [heads, kv_heads] : {std::pair<int64_t, int64_t>{4, 4}, {8, 2}, {32, 8}}) {
      check_case({300, 300, heads, kv_heads, d, K::streaming(0, 5, 70), AttentionPath::Auto, "flash"});
      check_case({300, 300, heads, kv_heads, d, K::streaming(0, 128, 256), AttentionPath::Auto, "flash"});
      check_case({16, 400, heads, kv_heads, d, K::streaming(384, 4, 8), AttentionPath::Auto, "flash"});
      check_case({1, 5000, heads, kv_heads, d, K::streaming(4999, 128, 256), AttentionPath::Auto, "flash"});
      check_case({130, 130, heads, kv_heads, d, K::streaming(0, 0, 1), AttentionPath::Flash, "flash"});
      check_case({120, 120, heads, kv_heads, d, K::streaming(-40, 3, 10), AttentionPath::Flash, "flash"});
    }
}

// Its cost is O(sink + window) per query: key tiles between the sink's and the
// windows' are never loaded (NaN there would reach the output).
TEST(CudaAttentionFlash, StreamingMaskReadsOnlySinkAndWindowTiles) {
  const int64_t k_len = 8192, sink = 5, window = 100;
  // Three queries at the end (decode-like) and a 64-row prefill block at the end.
  for (int64_t q_len : {int64_t(3), int64_t(64)}) {
    const int64_t offset = k_len - q_len;
    const int64_t first_window_tile = (offset - window + 1) / 64 * 64;  // the first query's window start, tile-aligned
    check_case({q_len, k_len, 32, 8, 128, K::streaming(offset, sink, window), AttentionPath::Auto, "flash", 64,
                first_window_tile});
  }
}

TEST(CudaAttentionFlash, EmptyKeysGiveZeroAndMinusInf) {
  check_case({5, 0, 4, 2, 128, K::none(), AttentionPath::Flash, ""});
}

TEST(CudaAttentionFlash, SplitKvDecode) {
  // A few query tokens against a long KV: the split-KV path, merged by LSE.
  check_case({1, 5000, 32, 8, 128, K::none(), AttentionPath::Auto, "flash-split"});
  check_case({3, 4100, 32, 8, 128, K::bottom_right(3, 4100), AttentionPath::Auto, "flash-split"});
  check_case({4, 3000, 8, 8, 64, K::causal(-100), AttentionPath::Flash, "flash-split"});
}

TEST(CudaAttentionCudnn, SupportedMasks) {
  ASSERT_TRUE(gpu().cudnn_available()) << "cuDNN did not start on this machine";
  for (int64_t d : {int64_t(64), int64_t(128)}) {
    check_case({256, 256, 8, 2, d, K::none(), AttentionPath::Cudnn, "cudnn"});
    check_case({256, 256, 8, 2, d, K::causal(0), AttentionPath::Cudnn, "cudnn"});
    check_case({192, 320, 8, 8, d, K::bottom_right(192, 320), AttentionPath::Cudnn, "cudnn"});
    check_case({200, 333, 32, 8, d, K::causal(0), AttentionPath::Cudnn, "cudnn"});
  }
}

TEST(CudaAttentionCudnn, AutoFallsBackForOffsetsCudnnCannotMask) {
  check_case({256, 256, 8, 2, 128, K::causal(-64), AttentionPath::Auto, "flash"});
  check_case({256, 300, 8, 2, 128, K::causal(10), AttentionPath::Auto, "flash"});
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

// At long sequences a float64 reference is too slow; the two independent
// implementations (cuDNN's fused kernel and ours) must agree instead.
TEST(CudaAttentionCrossCheck, CudnnAndFlashAgreeAtLongSequences) {
  if (!gpu().cudnn_available()) GTEST_SKIP() << "no cuDNN";
  std::mt19937_64 rng(fresh_seed());
  const int64_t s = 16384 + 64 + 7, heads = 32, kv_heads = 8, d = 128, q_len = 1000;
  auto q = random_bf16(s * heads * d, rng, -2.f, 2.f);
  auto k = random_bf16(s * kv_heads * d, rng, -2.f, 2.f);
  auto v = random_bf16(s * kv_heads * d, rng);
  Tensor tq = upload_bf16(gpu(), q, {s, heads, d}), tk = upload_bf16(gpu(), k, {s, kv_heads, d});
  Tensor tv = upload_bf16(gpu(), v, {s, kv_heads, d});
  for (auto [rows, mask] : {std::pair<int64_t, AttentionMask>{s, AttentionMask::causal(0)},
                            {q_len, AttentionMask::bottom_right(q_len, s)}}) {
    Tensor query = tq.rows(s - rows, s);
    std::vector<std::vector<float>> outs, lses;
    for (AttentionPath path : {AttentionPath::Cudnn, AttentionPath::Flash}) {
      Tensor out = poisoned(gpu(), DType::BF16, {rows, heads, d});
      Tensor lse = poisoned(gpu(), DType::F32, {rows, heads});
      gpu().set_attention_path(path);
      gpu().attention(query, tk, tv, mask, 0.088f, out, lse);
      outs.push_back(gpu().to_host_f32(out));
      lses.push_back(gpu().to_host_f32(lse));
    }
    gpu().set_attention_path(AttentionPath::Auto);
    std::vector<double> reference(outs[1].begin(), outs[1].end());
    EXPECT_LT(relative_error(outs[0], reference), 1e-2) << "rows " << rows;
    double worst = 0;
    for (size_t i = 0; i < lses[0].size(); ++i) {
      ASSERT_FALSE(std::isnan(lses[0][i]) || std::isnan(lses[1][i])) << "lse row " << i;
      worst = std::max(worst, double(std::abs(lses[0][i] - lses[1][i])));
    }
    EXPECT_LT(worst, 1e-2) << "rows " << rows;
  }
}

}  // namespace
}  // namespace sb
