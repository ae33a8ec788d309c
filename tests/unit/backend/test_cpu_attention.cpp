// Attention and the log-sum-exp merge of the cpu backend against float64 references.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/backend_factory.h"
#include "backend/cpu/cpu_backend.h"
#include "kernels/lse_merge.h"
#include "reference.h"

namespace sb {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct AttentionCase {
  int64_t tq, tk, hq, hkv, d;
};

struct Inputs {
  std::vector<float> q, k, v;
  Tensor tq, tk, tv;
};

Inputs make_inputs(Backend& backend, std::mt19937_64& rng, const AttentionCase& c) {
  Inputs in;
  // Scores of a few units, like a trained model's, so softmax is neither flat nor one-hot.
  in.q = test::random_floats(rng, c.tq * c.hq * c.d, -2.f, 2.f);
  in.k = test::random_floats(rng, c.tk * c.hkv * c.d, -2.f, 2.f);
  in.v = test::random_floats(rng, c.tk * c.hkv * c.d);
  in.tq = test::host_tensor(backend, {c.tq, c.hq, c.d}, in.q);
  in.tk = test::host_tensor(backend, {c.tk, c.hkv, c.d}, in.k);
  in.tv = test::host_tensor(backend, {c.tk, c.hkv, c.d}, in.v);
  return in;
}

std::vector<AttentionMask> masks_for(const AttentionCase& c) {
  return {AttentionMask::none(),
          AttentionMask::causal(0),
          AttentionMask::bottom_right(c.tq, c.tk),
          AttentionMask::causal(-3),           // leading queries see nothing
          AttentionMask::causal(-c.tq - 2),    // every query sees nothing
          AttentionMask::causal(c.tk + 10),    // every key visible
          // Streaming (Λ) masks: sink + window, as prefill (offset 0), after a
          // cache (bottom-right), a window wider than the keys, no sink, a
          // sink past the end, a one-key window, leading rows seeing nothing.
          AttentionMask::streaming(0, 3, 7),
          AttentionMask::streaming(c.tk - c.tq, 4, 20),
          AttentionMask::streaming(0, 2, c.tk + 5),
          AttentionMask::streaming(c.tk - c.tq, 0, 5),
          AttentionMask::streaming(0, c.tk + 3, 2),
          AttentionMask::streaming(0, 1, 1),
          AttentionMask::streaming(-4, 2, 3)};
}

TEST(CpuAttention, MatchesFloat64ReferenceForEveryMaskAndGqaRatio) {
  CpuBackend backend;
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  // Sizes straddle the 32-query and 64-key tiles; head_dim 20 is not a multiple of a vector.
  const std::vector<AttentionCase> cases = {{1, 1, 1, 1, 16},  {5, 9, 2, 1, 8},     {37, 50, 4, 4, 64},
                                            {70, 130, 4, 2, 32}, {33, 200, 8, 2, 20}, {1, 150, 8, 2, 64},
                                            {64, 64, 4, 1, 128}};
  for (const AttentionCase& c : cases) {
    Inputs in = make_inputs(backend, rng, c);
    for (const AttentionMask& mask : masks_for(c)) {
      SCOPED_TRACE(testing::Message() << "tq " << c.tq << " tk " << c.tk << " hq " << c.hq << " hkv " << c.hkv
                                      << " d " << c.d << " offset " << mask.causal_offset << " kind "
                                      << int(mask.kind) << " sink " << mask.sink << " window " << mask.window);
      const float scale = float(1.0 / std::sqrt(double(c.d)));
      Tensor out = backend.empty(DType::F32, {c.tq, c.hq, c.d});
      Tensor lse = backend.empty(DType::F32, {c.tq, c.hq});
      backend.attention(in.tq, in.tk, in.tv, mask, scale, out, lse);
      auto ref = test::reference_attention(in.q, in.k, in.v, c.tq, c.tk, c.hq, c.hkv, c.d, mask, scale);
      EXPECT_LT(test::max_relative_error(backend.to_host_f32(out), ref.out), 1e-5);
      EXPECT_LT(test::max_relative_error(backend.to_host_f32(lse), ref.lse), 1e-5);
    }
  }
}

// The streaming mask's cost is O(sink + window) keys per query: keys outside
// the sink and the windows are never read (NaN there would poison the output).
TEST(CpuAttention, StreamingMaskNeverReadsKeysOutsideSinkAndWindow) {
  CpuBackend backend;
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const AttentionCase c{3, 5000, 4, 2, 16};
  const int64_t sink = 5, window = 17, offset = c.tk - c.tq;  // three decode-like rows at the end
  const AttentionMask mask = AttentionMask::streaming(offset, sink, window);
  Inputs in = make_inputs(backend, rng, c);
  const int64_t first_window_key = offset - window + 1;  // row 0's window start: the earliest
  std::vector<float> k = in.k, v = in.v;
  for (int64_t j = sink; j < first_window_key; ++j) {
    for (int64_t e = 0; e < c.hkv * c.d; ++e) {
      k[size_t(j * c.hkv * c.d + e)] = std::numeric_limits<float>::quiet_NaN();
      v[size_t(j * c.hkv * c.d + e)] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  Tensor out = backend.empty(DType::F32, {c.tq, c.hq, c.d}), lse = backend.empty(DType::F32, {c.tq, c.hq});
  backend.attention(in.tq, test::host_tensor(backend, {c.tk, c.hkv, c.d}, k),
                    test::host_tensor(backend, {c.tk, c.hkv, c.d}, v), mask, 0.25f, out, lse);
  auto ref = test::reference_attention(in.q, in.k, in.v, c.tq, c.tk, c.hq, c.hkv, c.d, mask, 0.25);
  EXPECT_LT(test::max_relative_error(backend.to_host_f32(out), ref.out), 1e-5);
  EXPECT_LT(test::max_relative_error(backend.to_host_f32(lse), ref.lse), 1e-5);
}

TEST(CpuAttention, FullyMaskedRowsAreExactlyZeroWithMinusInfinityLse) {
  CpuBackend backend;
  std::mt19937_64 rng(test::fresh_seed());
  const AttentionCase c{40, 70, 4, 2, 16};
  Inputs in = make_inputs(backend, rng, c);
  Tensor out = backend.empty(DType::F32, {c.tq, c.hq, c.d});
  Tensor lse = backend.empty(DType::F32, {c.tq, c.hq});
  const int64_t offset = -35;  // query i sees keys j <= i - 35: rows 0..34 see nothing
  backend.attention(in.tq, in.tk, in.tv, AttentionMask::causal(offset), 0.25f, out, lse);
  auto host_out = backend.to_host_f32(out), host_lse = backend.to_host_f32(lse);
  for (int64_t i = 0; i < c.tq; ++i) {
    for (int64_t h = 0; h < c.hq; ++h) {
      if (i + offset < 0) {
        EXPECT_EQ(host_lse[size_t(i * c.hq + h)], -kInf) << "row " << i;
        for (int64_t e = 0; e < c.d; ++e) EXPECT_EQ(host_out[size_t((i * c.hq + h) * c.d + e)], 0.f);
      } else {
        EXPECT_TRUE(std::isfinite(host_lse[size_t(i * c.hq + h)])) << "row " << i;
      }
    }
  }
}

TEST(CpuAttention, NoKeysGivesEmptyRows) {
  CpuBackend backend;
  std::mt19937_64 rng(test::fresh_seed());
  Tensor q = test::host_tensor(backend, {3, 2, 8}, test::random_floats(rng, 48));
  Tensor k = backend.empty(DType::F32, {0, 1, 8}), v = backend.empty(DType::F32, {0, 1, 8});
  Tensor out = test::host_tensor(backend, {3, 2, 8}, std::vector<float>(48, 7.f));
  Tensor lse = backend.empty(DType::F32, {3, 2});
  backend.attention(q, k, v, AttentionMask::none(), 1.f, out, lse);
  for (float value : backend.to_host_f32(out)) EXPECT_EQ(value, 0.f);
  for (float value : backend.to_host_f32(lse)) EXPECT_EQ(value, -kInf);
}

TEST(CpuAttention, RejectsMismatchedShapes) {
  CpuBackend backend;
  Tensor q = backend.empty(DType::F32, {4, 6, 8}), k = backend.empty(DType::F32, {5, 4, 8});
  Tensor v = backend.empty(DType::F32, {5, 4, 8});
  Tensor out = backend.empty(DType::F32, {4, 6, 8}), lse = backend.empty(DType::F32, {4, 6});
  EXPECT_THROW(backend.attention(q, k, v, AttentionMask::none(), 1.f, out, lse), Error);  // 6 % 4 != 0
  Tensor k2 = backend.empty(DType::F32, {5, 2, 8}), v2 = backend.empty(DType::F32, {5, 2, 4});
  EXPECT_THROW(backend.attention(q, k2, v2, AttentionMask::none(), 1.f, out, lse), Error);
  Tensor small_lse = backend.empty(DType::F32, {4, 5});
  EXPECT_THROW(backend.attention(q, k2, k2, AttentionMask::none(), 1.f, out, small_lse), Error);
}

// Attention over keys [begin, end) of the full set, with the mask shifted so
// that it hides exactly what the full mask hides.
void attend_subset(Backend& backend, const Inputs& in, int64_t begin, int64_t end, AttentionMask mask,
                   const AttentionCase& c, Tensor& out, Tensor& lse) {
  AttentionMask shifted = mask;
  shifted.causal_offset -= begin;
  out = backend.empty(DType::F32, {c.tq, c.hq, c.d});
  lse = backend.empty(DType::F32, {c.tq, c.hq});
  backend.attention(in.tq, in.tk.rows(begin, end), in.tv.rows(begin, end), shifted, 0.3f, out, lse);
}

TEST(CpuLseMerge, MergingDisjointKeySetsEqualsFullAttention) {
  CpuBackend backend;
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const AttentionCase c{45, 150, 4, 2, 32};
  Inputs in = make_inputs(backend, rng, c);
  for (const AttentionMask& mask : {AttentionMask::none(), AttentionMask::causal(0),
                                    AttentionMask::bottom_right(c.tq, c.tk), AttentionMask::causal(-10)}) {
    SCOPED_TRACE(testing::Message() << "offset " << mask.causal_offset);
    Tensor full_out, full_lse;
    attend_subset(backend, in, 0, c.tk, mask, c, full_out, full_lse);
    const auto want_out = backend.to_host_f32(full_out), want_lse = backend.to_host_f32(full_lse);
    for (const std::vector<int64_t>& cuts : {std::vector<int64_t>{0, 61, 150}, std::vector<int64_t>{0, 20, 97, 150}}) {
      Tensor out, lse;
      attend_subset(backend, in, cuts[0], cuts[1], mask, c, out, lse);
      for (size_t part = 1; part + 1 < cuts.size(); ++part) {
        Tensor part_out, part_lse;
        attend_subset(backend, in, cuts[part], cuts[part + 1], mask, c, part_out, part_lse);
        backend.lse_merge(out, lse, part_out, part_lse);
      }
      std::vector<double> want_out_d(want_out.begin(), want_out.end()), want_lse_d(want_lse.begin(), want_lse.end());
      EXPECT_LT(test::max_relative_error(backend.to_host_f32(out), want_out_d), 5e-6) << cuts.size() - 1 << " parts";
      EXPECT_LT(test::max_relative_error(backend.to_host_f32(lse), want_lse_d), 5e-6) << cuts.size() - 1 << " parts";
    }
  }
}

struct Partial {
  std::vector<float> out, lse;
};

Partial random_partial(std::mt19937_64& rng, int64_t rows, int64_t d) {
  Partial p{test::random_floats(rng, rows * d), test::random_floats(rng, rows, -5.f, 5.f)};
  p.lse[0] = -kInf;  // a row that saw no key
  for (int64_t c = 0; c < d; ++c) p.out[size_t(c)] = 0.f;
  return p;
}

Partial merged(Backend& backend, const Partial& a, const Partial& b, int64_t rows, int64_t d) {
  Tensor out = test::host_tensor(backend, {rows, 1, d}, a.out), lse = test::host_tensor(backend, {rows, 1}, a.lse);
  backend.lse_merge(out, lse, test::host_tensor(backend, {rows, 1, d}, b.out), test::host_tensor(backend, {rows, 1}, b.lse));
  return {backend.to_host_f32(out), backend.to_host_f32(lse)};
}

TEST(CpuLseMerge, MatchesFloat64FormulaAndIsOrderIndependentAndAssociative) {
  CpuBackend backend;
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const int64_t rows = 50, d = 24;
  Partial a = random_partial(rng, rows, d), b = random_partial(rng, rows, d), c = random_partial(rng, rows, d);
  b.lse[1] = -kInf;  // row 1: only a contributes
  for (int64_t e = 0; e < d; ++e) b.out[size_t(d + e)] = 0.f;

  Partial ab = merged(backend, a, b, rows, d);
  std::vector<double> want_out(size_t(rows * d)), want_lse(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const double m = std::max(a.lse[size_t(r)], b.lse[size_t(r)]);
    if (std::isinf(m)) {
      want_lse[size_t(r)] = -INFINITY;
      continue;
    }
    const double w1 = std::exp(a.lse[size_t(r)] - m), w2 = std::exp(b.lse[size_t(r)] - m);
    want_lse[size_t(r)] = m + std::log(w1 + w2);
    for (int64_t e = 0; e < d; ++e) {
      const size_t i = size_t(r * d + e);
      want_out[i] = (w1 * a.out[i] + w2 * b.out[i]) / (w1 + w2);
    }
  }
  EXPECT_LT(test::max_relative_error(ab.out, want_out), 1e-6);
  EXPECT_LT(test::max_relative_error(ab.lse, want_lse), 1e-6);

  // Row 0: both sides saw nothing. Row 1: merging with nothing changes nothing, bit for bit.
  EXPECT_EQ(ab.lse[0], -kInf);
  for (int64_t e = 0; e < d; ++e) EXPECT_EQ(ab.out[size_t(e)], 0.f);
  EXPECT_EQ(ab.lse[1], a.lse[1]);
  for (int64_t e = 0; e < d; ++e) EXPECT_EQ(ab.out[size_t(d + e)], a.out[size_t(d + e)]);

  // The formula is symmetric in its two sides, so a+b == b+a exactly.
  Partial ba = merged(backend, b, a, rows, d);
  EXPECT_EQ(ab.out, ba.out);
  EXPECT_EQ(ab.lse, ba.lse);

  // (a+b)+c == a+(b+c) to rounding.
  Partial left = merged(backend, ab, c, rows, d);
  Partial right = merged(backend, a, merged(backend, b, c, rows, d), rows, d);
  std::vector<double> right_out(right.out.begin(), right.out.end()), right_lse(right.lse.begin(), right.lse.end());
  EXPECT_LT(test::max_relative_error(left.out, right_out), 1e-6);
  EXPECT_LT(test::max_relative_error(left.lse, right_lse), 1e-6);
}

TEST(LseMergeRule, ScalarEdgeCases) {
  LseMergeWeights none = lse_merge_weights(-kInf, -kInf);
  EXPECT_EQ(none.first, 0.f);
  EXPECT_EQ(none.second, 0.f);
  EXPECT_EQ(none.lse, -kInf);
  LseMergeWeights left_only = lse_merge_weights(2.5f, -kInf);
  EXPECT_EQ(left_only.first, 1.f);
  EXPECT_EQ(left_only.second, 0.f);
  EXPECT_EQ(left_only.lse, 2.5f);
  LseMergeWeights equal = lse_merge_weights(1.f, 1.f);
  EXPECT_EQ(equal.first, 0.5f);
  EXPECT_EQ(equal.second, 0.5f);
  EXPECT_NEAR(equal.lse, 1.0 + std::log(2.0), 1e-6);
  // Far-apart lse values must not overflow: exp is only taken of l - max <= 0.
  LseMergeWeights far = lse_merge_weights(1000.f, -1000.f);
  EXPECT_EQ(far.first, 1.f);
  EXPECT_EQ(far.lse, 1000.f);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

// The closed form of visible_pairs against counting mask.visible() pair by pair.
TEST(AttentionMaskWork, VisiblePairsMatchCountingEveryPair) {
  for (int64_t q_len : {0, 1, 5, 17}) {
    for (int64_t k_len : {0, 1, 6, 23}) {
      std::vector<AttentionMask> masks = {AttentionMask::none(), AttentionMask::causal(0),
                                          AttentionMask::bottom_right(q_len, k_len)};
      for (int64_t offset : {-30, -7, -1, 3, 40}) masks.push_back(AttentionMask::causal(offset));
      for (int64_t offset : {-4, 0, 5, 30}) {  // streaming (sink + window) masks, DuoAttention's
        for (auto [sink, window] : {std::pair<int64_t, int64_t>{0, 1}, {2, 3}, {4, 50}, {30, 2}}) {
          masks.push_back(AttentionMask::streaming(offset, sink, window));
        }
      }
      for (const AttentionMask& mask : masks) {
        double counted = 0;
        for (int64_t i = 0; i < q_len; ++i) {
          for (int64_t j = 0; j < k_len; ++j) counted += mask.visible(i, j) ? 1 : 0;
        }
        EXPECT_EQ(mask.visible_pairs(q_len, k_len), counted)
            << q_len << " x " << k_len << ", offset " << mask.causal_offset << ", sink " << mask.sink << ", window "
            << mask.window;
      }
    }
  }
}

TEST(AttentionMaskWork, BackendCountsWhatItIsAskedFor) {
  auto backend = make_backend("cpu", 0);
  const int64_t tq = 8, tk = 12, hq = 4, hkv = 2, d = 16;
  std::vector<float> zeros(size_t(tk * hq * d), 0.5f);
  Tensor q = backend->from_host(DType::F32, {tq, hq, d}, zeros.data());
  Tensor k = backend->from_host(DType::F32, {tk, hkv, d}, zeros.data());
  Tensor out = backend->empty(DType::F32, {tq, hq, d});
  Tensor lse = backend->empty(DType::F32, {tq, hq});
  Tensor w = backend->from_host(DType::F32, {3, d}, zeros.data());
  Tensor x = backend->from_host(DType::F32, {tk, d}, zeros.data());
  Tensor y = backend->empty(DType::F32, {tk, 3});
  backend->reset_work();
  backend->attention(q, k, k, AttentionMask::bottom_right(tq, tk), 0.25f, out, lse);
  backend->matmul(x, w, y);
  EXPECT_EQ(backend->work().attention_flops, 4.0 * AttentionMask::bottom_right(tq, tk).visible_pairs(tq, tk) * hq * d);
  EXPECT_EQ(backend->work().matmul_flops, 2.0 * tk * 3 * d);
  backend->reset_work();
  EXPECT_EQ(backend->work().matmul_flops, 0.0);
}

}  // namespace
}  // namespace sb
