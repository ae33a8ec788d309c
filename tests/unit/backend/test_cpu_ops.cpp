// The cpu backend's dense ops against float64 references.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include <omp.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_gemm.h"
#include "reference.h"

namespace sb {
namespace {

struct MatmulCase {
  int64_t tokens, n, k;
};

TEST(CpuMatmul, MatchesFloat64ReferenceOnOddSizes) {
  CpuBackend backend;
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  // Both paths (dot products below 4 tokens, packed blocks above), and sizes
  // crossing the 256-deep and 512-wide packing blocks and the register tiles.
  for (const MatmulCase& c : std::vector<MatmulCase>{
           {1, 1, 1}, {1, 37, 300}, {3, 5, 7}, {4, 33, 17}, {9, 1, 5}, {67, 129, 300}, {130, 515, 257}}) {
    for (bool accumulate : {false, true}) {
      SCOPED_TRACE(testing::Message() << "T " << c.tokens << " N " << c.n << " K " << c.k << " acc " << accumulate);
      auto x = test::random_floats(rng, c.tokens * c.k), w = test::random_floats(rng, c.n * c.k);
      auto initial = test::random_floats(rng, c.tokens * c.n);
      Tensor out = test::host_tensor(backend, {c.tokens, c.n}, initial);
      backend.matmul(test::host_tensor(backend, {c.tokens, c.k}, x), test::host_tensor(backend, {c.n, c.k}, w), out,
                     accumulate);
      auto ref = test::reference_matmul(x, w, c.tokens, c.n, c.k);
      auto got = backend.to_host_f32(out);
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        double want = ref.out[i] + (accumulate ? initial[i] : 0.0);
        double bound = ref.magnitude[i] + std::fabs(accumulate ? initial[i] : 0.0) + 1e-30;
        worst = std::max(worst, std::fabs(got[i] - want) / bound);
      }
      EXPECT_LT(worst, 1e-6);  // error relative to the sum of |terms|
    }
  }
}

TEST(CpuGemm, EveryInstructionSetMatchesOnStridedOperands) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const int64_t m = 19, n = 45, k = 270, lda = k + 3, ldb = n + 5, ldc = n + 2;
  auto a = test::random_floats(rng, m * lda), b = test::random_floats(rng, k * ldb);
  for (cpu::GemmIsa isa : {cpu::GemmIsa::Avx512, cpu::GemmIsa::Avx2, cpu::GemmIsa::Portable}) {
    if (!cpu::gemm_isa_supported(isa)) continue;
    SCOPED_TRACE(testing::Message() << "isa " << int(isa));
    std::vector<float> c(size_t(m * ldc), 5.f);
    cpu::gemm_with(isa, m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc, false);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        if (j >= n) {
          EXPECT_EQ(c[size_t(i * ldc + j)], 5.f) << "wrote outside the " << n << " columns";
          continue;
        }
        double want = 0, magnitude = 0;
        for (int64_t p = 0; p < k; ++p) {
          want += double(a[size_t(i * lda + p)]) * b[size_t(p * ldb + j)];
          magnitude += std::fabs(double(a[size_t(i * lda + p)]) * b[size_t(p * ldb + j)]);
        }
        EXPECT_LT(std::fabs(c[size_t(i * ldc + j)] - want), 1e-6 * magnitude) << i << "," << j;
      }
    }
  }
}

TEST(CpuMatmul, WorksOnRowViewsAndRejectsBadShapes) {
  CpuBackend backend;
  std::mt19937_64 rng(test::fresh_seed());
  auto x = test::random_floats(rng, 10 * 6), w = test::random_floats(rng, 4 * 6);
  Tensor big_x = test::host_tensor(backend, {10, 6}, x);
  Tensor big_out = test::host_tensor(backend, {10, 4}, std::vector<float>(40, -1.f));
  Tensor out_rows = big_out.rows(2, 7);
  Tensor tw = test::host_tensor(backend, {4, 6}, w);
  backend.matmul(big_x.rows(3, 8), tw, out_rows);
  auto got = backend.to_host_f32(big_out);
  for (int64_t t = 0; t < 10; ++t) {
    for (int64_t j = 0; j < 4; ++j) {
      if (t < 2 || t >= 7) {
        EXPECT_EQ(got[size_t(t * 4 + j)], -1.f);
        continue;
      }
      double want = 0;
      for (int64_t p = 0; p < 6; ++p) want += double(x[size_t((t + 1) * 6 + p)]) * w[size_t(j * 6 + p)];
      EXPECT_NEAR(got[size_t(t * 4 + j)], want, 1e-5);
    }
  }
  Tensor wrong_out = backend.empty(DType::F32, {5, 3});
  EXPECT_THROW(backend.matmul(big_x.rows(0, 5), tw, wrong_out), Error);
  Tensor wrong_w = backend.empty(DType::F32, {4, 5});
  EXPECT_THROW(backend.matmul(big_x.rows(0, 5), wrong_w, out_rows), Error);
  Tensor aliased = big_x.rows(0, 5).reshape({5, 6});
  Tensor square_w = backend.empty(DType::F32, {6, 6});
  EXPECT_THROW(backend.matmul(big_x.rows(0, 5), square_w, aliased), Error);
}

// Work is split among threads by output element, never inside a sum, so a
// result does not depend on the thread count (ring == global needs this).
TEST(CpuThreads, MatmulAndAttentionAreBitwiseIndependentOfThreadCount) {
  CpuBackend backend;
  std::mt19937_64 rng(test::fresh_seed());
  const int64_t tokens = 70, n = 90, k = 300, hq = 4, hkv = 2, d = 16;
  Tensor x = test::host_tensor(backend, {tokens, k}, test::random_floats(rng, tokens * k));
  Tensor w = test::host_tensor(backend, {n, k}, test::random_floats(rng, n * k));
  Tensor q = test::host_tensor(backend, {tokens, hq, d}, test::random_floats(rng, tokens * hq * d));
  Tensor kv = test::host_tensor(backend, {tokens, hkv, d}, test::random_floats(rng, tokens * hkv * d));
  std::vector<std::vector<float>> results;
  const int saved = omp_get_max_threads();
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    Tensor out = backend.empty(DType::F32, {tokens, n});
    backend.matmul(x, w, out);
    Tensor att = backend.empty(DType::F32, {tokens, hq, d}), lse = backend.empty(DType::F32, {tokens, hq});
    backend.attention(q, kv, kv, AttentionMask::causal(0), 0.25f, att, lse);
    auto flat = backend.to_host_f32(out);
    for (float value : backend.to_host_f32(att)) flat.push_back(value);
    for (float value : backend.to_host_f32(lse)) flat.push_back(value);
    results.push_back(flat);
  }
  omp_set_num_threads(saved);
  EXPECT_EQ(results[0], results[1]);
}

TEST(CpuOps, RmsnormMatchesFloat64Reference) {
  CpuBackend backend;
  std::mt19937_64 rng(test::fresh_seed());
  const int64_t rows = 7, hidden = 300;
  auto x = test::random_floats(rng, rows * hidden, -3.f, 3.f), w = test::random_floats(rng, hidden);
  Tensor out = backend.empty(DType::F32, {rows, hidden});
  const float eps = 1e-5f;
  backend.rmsnorm(test::host_tensor(backend, {rows, hidden}, x), test::host_tensor(backend, {hidden}, w), eps, out);
  std::vector<double> want(size_t(rows * hidden));
  for (int64_t r = 0; r < rows; ++r) {
    double squares = 0;
    for (int64_t i = 0; i < hidden; ++i) squares += double(x[size_t(r * hidden + i)]) * x[size_t(r * hidden + i)];
    const double inverse = 1.0 / std::sqrt(squares / hidden + double(eps));
    for (int64_t i = 0; i < hidden; ++i) want[size_t(r * hidden + i)] = x[size_t(r * hidden + i)] * inverse * w[size_t(i)];
  }
  EXPECT_LT(test::max_relative_error(backend.to_host_f32(out), want), 1e-6);
  Tensor bad_weight = backend.empty(DType::F32, {hidden + 1});
  EXPECT_THROW(backend.rmsnorm(out, bad_weight, eps, out), Error);
}

TEST(CpuOps, RopeRotatesHalvesByPositionTimesFrequency) {
  CpuBackend backend;
  std::mt19937_64 rng(test::fresh_seed());
  const int64_t tokens = 6, heads = 3, d = 16, half = d / 2;
  std::vector<double> inverse_frequencies(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inverse_frequencies[size_t(i)] = std::pow(500000.0, -2.0 * double(i) / double(d));
  const std::vector<int32_t> positions = {0, 1, 7, 1000, 65535, 131071};
  auto x = test::random_floats(rng, tokens * heads * d);
  Tensor t = test::host_tensor(backend, {tokens, heads, d}, x);
  Tensor pos = backend.from_host(DType::I32, {tokens}, positions.data());
  EXPECT_THROW(backend.rope(t, pos), Error);  // frequencies not set yet
  backend.set_rope_frequencies(inverse_frequencies);
  backend.rope(t, pos);
  std::vector<double> want(x.size());
  for (int64_t s = 0; s < tokens; ++s) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle = double(positions[size_t(s)]) * inverse_frequencies[size_t(i)];
        const size_t a = size_t((s * heads + h) * d + i), b = a + size_t(half);
        want[a] = x[a] * std::cos(angle) - x[b] * std::sin(angle);
        want[b] = x[b] * std::cos(angle) + x[a] * std::sin(angle);
      }
    }
  }
  EXPECT_LT(test::max_relative_error(backend.to_host_f32(t), want), 1e-6);
  Tensor too_few = backend.from_host(DType::I32, {tokens - 1}, positions.data());
  EXPECT_THROW(backend.rope(t, too_few), Error);
}

TEST(CpuOps, SwigluEmbedding) {
  CpuBackend backend;
  std::mt19937_64 rng(test::fresh_seed());
  const int64_t n = 97;
  auto gate = test::random_floats(rng, n, -6.f, 6.f), up = test::random_floats(rng, n);
  Tensor tg = test::host_tensor(backend, {n}, gate);
  backend.swiglu(tg, test::host_tensor(backend, {n}, up), tg);  // in place, as the transformer does
  std::vector<double> want(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) want[size_t(i)] = gate[size_t(i)] / (1.0 + std::exp(-double(gate[size_t(i)]))) * up[size_t(i)];
  EXPECT_LT(test::max_relative_error(backend.to_host_f32(tg), want), 1e-6);

  const int64_t vocab = 11, hidden = 5;
  auto table = test::random_floats(rng, vocab * hidden);
  Tensor tt = test::host_tensor(backend, {vocab, hidden}, table);
  const std::vector<int32_t> ids = {3, 0, 10, 3};
  Tensor out = backend.empty(DType::F32, {4, hidden});
  backend.embedding(tt, backend.from_host(DType::I32, {4}, ids.data()), out);
  auto got = backend.to_host_f32(out);
  for (size_t t = 0; t < ids.size(); ++t) {
    for (int64_t e = 0; e < hidden; ++e) EXPECT_EQ(got[t * hidden + size_t(e)], table[size_t(ids[t] * hidden + e)]);
  }
  const std::vector<int32_t> bad = {1, 11};
  EXPECT_THROW(backend.embedding(tt, backend.from_host(DType::I32, {2}, bad.data()), out), Error);
}

TEST(CpuOps, ArgmaxTakesTheFirstOfTiesAndNanAsLargest) {
  CpuBackend backend;
  const std::vector<float> logits = {1, 5, 5, 2,   -1, -3, -1, -2,   0, 0, 0, 9};
  EXPECT_EQ(backend.argmax_rows(test::host_tensor(backend, {3, 4}, logits)), (std::vector<int64_t>{1, 0, 3}));
  const float nan = std::nanf("");
  const std::vector<float> with_nan = {1, nan, 5, nan,   nan, 0, 0, 0};
  EXPECT_EQ(backend.argmax_rows(test::host_tensor(backend, {2, 4}, with_nan)), (std::vector<int64_t>{1, 0}));
}

TEST(CpuOps, TimerMeasuresWallTime) {
  CpuBackend backend;
  auto timer = backend.make_timer();
  timer->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  timer->stop();
  const double ms = timer->elapsed_ms();
  EXPECT_GE(ms, 19.9);
  EXPECT_LT(ms, 2000.0);
}

// copy_heads against the same copy done on float64 arrays by index arithmetic:
// only the named heads of the named rows change, bit for bit.
TEST(CpuCopyHeads, MatchesFloat64IndexReference) {
  CpuBackend backend;
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  struct Case {
    int64_t src_rows, src_heads, dst_rows, dst_heads, d, src_row, src_head, dst_row, dst_head, rows, heads;
  };
  for (const Case& c : std::vector<Case>{{7, 8, 9, 3, 5, 1, 2, 4, 0, 5, 3},    // pack 3 of 8 heads
                                         {6, 2, 6, 8, 4, 0, 0, 0, 5, 6, 2},    // unpack into heads 5, 6
                                         {4, 4, 4, 4, 3, 0, 0, 0, 0, 4, 4},    // every head: a plain copy
                                         {5, 3, 5, 3, 2, 2, 1, 2, 1, 0, 2},    // no rows
                                         {1, 1, 2, 1, 1, 0, 0, 1, 0, 1, 1}}) {
    std::vector<double> src = [&] {
      auto floats = test::random_floats(rng, c.src_rows * c.src_heads * c.d);
      return std::vector<double>(floats.begin(), floats.end());
    }();
    std::vector<double> dst = [&] {
      auto floats = test::random_floats(rng, c.dst_rows * c.dst_heads * c.d);
      return std::vector<double>(floats.begin(), floats.end());
    }();
    std::vector<float> src_f(src.begin(), src.end()), dst_f(dst.begin(), dst.end());
    Tensor src_t = test::host_tensor(backend, {c.src_rows, c.src_heads, c.d}, src_f);
    Tensor dst_t = test::host_tensor(backend, {c.dst_rows, c.dst_heads, c.d}, dst_f);
    backend.copy_heads(dst_t, c.dst_row, c.dst_head, src_t, c.src_row, c.src_head, c.rows, c.heads);
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t h = 0; h < c.heads; ++h)
        for (int64_t e = 0; e < c.d; ++e)
          dst[size_t(((c.dst_row + r) * c.dst_heads + c.dst_head + h) * c.d + e)] =
              src[size_t(((c.src_row + r) * c.src_heads + c.src_head + h) * c.d + e)];
    const std::vector<float> got = backend.to_host_f32(dst_t);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(double(got[i]), dst[i]) << "element " << i;
  }
}

TEST(CpuCopyHeads, RefusesRangesOutsideTheTensors) {
  CpuBackend backend;
  Tensor a = backend.empty(DType::F32, {4, 3, 2}), b = backend.empty(DType::F32, {4, 5, 2});
  Tensor other_d = backend.empty(DType::F32, {4, 3, 3}), flat = backend.empty(DType::F32, {4, 6});
  EXPECT_THROW(backend.copy_heads(a, 0, 1, b, 0, 0, 4, 3), Error);   // heads 1..3 of a: past its 3
  EXPECT_THROW(backend.copy_heads(a, 0, 0, b, 2, 0, 3, 1), Error);   // rows 2..4 of b: past its 4
  EXPECT_THROW(backend.copy_heads(a, 0, 0, other_d, 0, 0, 1, 1), Error);  // head sizes differ
  EXPECT_THROW(backend.copy_heads(a, 0, 0, flat, 0, 0, 1, 1), Error);     // not [T, H, d]
  EXPECT_THROW(backend.copy_heads(a, -1, 0, b, 0, 0, 1, 1), Error);
}

}  // namespace
}  // namespace sb
