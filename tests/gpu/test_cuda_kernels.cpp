// Every small kernel of the cuda backend against a float64 reference on fresh
// random inputs, with outputs poisoned before each run.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cuda/cuda_backend.h"
#include "kernels/lse_merge.h"
#include "gpu_test_util.h"
#include "model/weight_spec.h"
#include "util/error.h"

namespace sb {
namespace {

using test::fresh_seed;
using test::gpu;
using test::poisoned;
using test::random_bf16;
using test::relative_error;
using test::upload_bf16;

TEST(CudaKernels, SyntheticWeightsEqualCpuValuesUpToBf16Rounding) {
  WeightSpec spec;
  spec.name = "synthetic.test";
  spec.shape = {1000, 37};
  spec.seed = fresh_seed();
  spec.scale = 0.02f;
  spec.offset = 0.5f;
  auto got = gpu().to_host_f32(gpu().upload(spec));
  for (int64_t i = 0; i < spec.numel(); ++i) {
    float expected = bf16_to_f32(f32_to_bf16(synthetic_value(spec.seed, uint64_t(i)) * spec.scale + spec.offset));
    ASSERT_EQ(got[size_t(i)], expected) << "element " << i << " seed " << spec.seed;
  }
}

TEST(CudaKernels, UploadConvertsMappedF32F16Bf16InChunks) {
  std::mt19937_64 rng(fresh_seed());
  // 5M f32 elements = 20 MB: more than one 16 MB staging chunk.
  const int64_t n = 5'000'000;
  std::vector<float> f32(n);
  std::uniform_real_distribution<float> dist(-3.f, 3.f);
  for (auto& v : f32) v = dist(rng);
  WeightSpec spec;
  spec.name = "mapped.f32";
  spec.shape = {n};
  spec.mapped_data = f32.data();
  spec.mapped_dtype = DType::F32;
  auto got = gpu().to_host_f32(gpu().upload(spec));
  for (int64_t i = 0; i < n; i += 997) ASSERT_EQ(got[size_t(i)], bf16_to_f32(f32_to_bf16(f32[size_t(i)]))) << i;
  ASSERT_EQ(got[size_t(n - 1)], bf16_to_f32(f32_to_bf16(f32[size_t(n - 1)])));

  std::vector<uint16_t> bf(n);
  for (int64_t i = 0; i < n; ++i) bf[size_t(i)] = f32_to_bf16(f32[size_t(i)]);
  spec.mapped_data = bf.data();
  spec.mapped_dtype = DType::BF16;
  got = gpu().to_host_f32(gpu().upload(spec));
  for (int64_t i = 0; i < n; i += 991) ASSERT_EQ(got[size_t(i)], bf16_to_f32(bf[size_t(i)])) << i;

  // f16 1.0 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff
  std::vector<uint16_t> f16 = {0x3c00, 0xc100, 0x7bff};
  spec.shape = {3};
  spec.mapped_data = f16.data();
  spec.mapped_dtype = DType::F16;
  got = gpu().to_host_f32(gpu().upload(spec));
  EXPECT_EQ(got[0], 1.f);
  EXPECT_EQ(got[1], -2.5f);
  EXPECT_EQ(got[2], bf16_to_f32(f32_to_bf16(65504.f)));

  spec.mapped_dtype = DType::I32;
  EXPECT_THROW(gpu().upload(spec), Error);
}

TEST(CudaKernels, Embedding) {
  std::mt19937_64 rng(fresh_seed());
  const int64_t vocab = 301, hidden = 72, tokens = 17;
  auto table = random_bf16(vocab * hidden, rng);
  std::vector<int32_t> ids(tokens);
  for (auto& id : ids) id = int32_t(rng() % vocab);
  ids[3] = vocab - 1;
  Tensor t_ids = gpu().from_host(DType::I32, {tokens}, ids.data());
  Tensor out = poisoned(gpu(), DType::BF16, {tokens, hidden});
  gpu().embedding(upload_bf16(gpu(), table, {vocab, hidden}), t_ids, out);
  auto got = gpu().to_host_f32(out);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < hidden; ++i)
      ASSERT_EQ(got[size_t(t * hidden + i)], table.values[size_t(ids[size_t(t)] * hidden + i)]);

  ids[5] = int32_t(vocab);  // out of range: a clear error at the next synchronize
  Tensor bad = gpu().from_host(DType::I32, {tokens}, ids.data());
  gpu().embedding(upload_bf16(gpu(), table, {vocab, hidden}), bad, out);
  EXPECT_THROW(gpu().synchronize(), Error);
  gpu().synchronize();  // the flag was cleared
}

TEST(CudaKernels, RmsNorm) {
  std::mt19937_64 rng(fresh_seed());
  const int64_t rows = 9, hidden = 4096 + 24;
  auto x = random_bf16(rows * hidden, rng, -4.f, 4.f);
  auto w = random_bf16(hidden, rng, 0.5f, 1.5f);
  Tensor out = poisoned(gpu(), DType::BF16, {rows, hidden});
  gpu().rmsnorm(upload_bf16(gpu(), x, {rows, hidden}), upload_bf16(gpu(), w, {hidden}), 1e-5f, out);
  std::vector<double> ref(size_t(rows * hidden));
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < hidden; ++i) ss += double(x.values[size_t(r * hidden + i)]) * x.values[size_t(r * hidden + i)];
    double inv = 1.0 / std::sqrt(ss / double(hidden) + 1e-5);
    for (int64_t i = 0; i < hidden; ++i)
      ref[size_t(r * hidden + i)] = x.values[size_t(r * hidden + i)] * inv * w.values[size_t(i)];
  }
  EXPECT_LT(relative_error(gpu().to_host_f32(out), ref), 1e-2);
}

TEST(CudaKernels, MatmulOddShapesAndAccumulate) {
  std::mt19937_64 rng(fresh_seed());
  for (auto [t, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 4096, 4096}, {37, 130, 72}, {300, 1000, 512},
                         {5, 24, 8}}) {
    auto x = random_bf16(t * k, rng);
    auto w = random_bf16(n * k, rng);
    auto init = random_bf16(t * n, rng);
    Tensor tx = upload_bf16(gpu(), x, {t, k}), tw = upload_bf16(gpu(), w, {n, k});
    Tensor out = poisoned(gpu(), DType::BF16, {t, n});
    gpu().matmul(tx, tw, out);
    std::vector<double> ref(size_t(t * n));
    for (int64_t i = 0; i < t; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += double(x.values[size_t(i * k + p)]) * w.values[size_t(j * k + p)];
        ref[size_t(i * n + j)] = acc;
      }
    EXPECT_LT(relative_error(gpu().to_host_f32(out), ref), 1e-2) << t << "x" << n << "x" << k;
    Tensor acc_out = upload_bf16(gpu(), init, {t, n});
    gpu().matmul(tx, tw, acc_out, /*accumulate=*/true);
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += init.values[i];
    EXPECT_LT(relative_error(gpu().to_host_f32(acc_out), ref), 1e-2) << "accumulate " << t << "x" << n << "x" << k;
  }
}

TEST(CudaKernels, RopeAtPositionsUpToOneMillion) {
  std::mt19937_64 rng(fresh_seed());
  const int64_t tokens = 33, heads = 3, d = 128;
  std::vector<double> inv_freq(d / 2);
  for (int64_t i = 0; i < d / 2; ++i) inv_freq[size_t(i)] = std::pow(500000.0, -2.0 * double(i) / double(d));
  gpu().set_rope_frequencies(inv_freq);
  std::vector<int32_t> positions(tokens);
  for (int64_t t = 0; t < tokens; ++t) positions[size_t(t)] = int32_t(rng() % 1'048'576);
  positions[0] = 1'048'575;
  positions[1] = 0;
  auto x = random_bf16(tokens * heads * d, rng);
  Tensor tx = upload_bf16(gpu(), x, {tokens, heads, d});
  gpu().rope(tx, gpu().from_host(DType::I32, {tokens}, positions.data()));
  std::vector<double> ref(x.values.size());
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < d / 2; ++i) {
        double angle = double(positions[size_t(t)]) * inv_freq[size_t(i)];
        size_t base = size_t((t * heads + h) * d);
        double a = x.values[base + size_t(i)], b = x.values[base + size_t(i + d / 2)];
        ref[base + size_t(i)] = a * std::cos(angle) - b * std::sin(angle);
        ref[base + size_t(i + d / 2)] = b * std::cos(angle) + a * std::sin(angle);
      }
  EXPECT_LT(relative_error(gpu().to_host_f32(tx), ref), 1e-2);
}

TEST(CudaKernels, Swiglu) {
  std::mt19937_64 rng(fresh_seed());
  for (int64_t n : {int64_t(8 * 1000), int64_t(1001)}) {  // vector path and scalar path
    auto g = random_bf16(n, rng, -6.f, 6.f), u = random_bf16(n, rng);
    Tensor out = poisoned(gpu(), DType::BF16, {n});
    gpu().swiglu(upload_bf16(gpu(), g, {n}), upload_bf16(gpu(), u, {n}), out);
    std::vector<double> ref(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      double gv = g.values[size_t(i)];
      ref[size_t(i)] = gv / (1 + std::exp(-gv)) * u.values[size_t(i)];
    }
    EXPECT_LT(relative_error(gpu().to_host_f32(out), ref), 1e-2);
  }
}

TEST(CudaKernels, LseMergeMatchesRuleIncludingEmptySides) {
  std::mt19937_64 rng(fresh_seed());
  const int64_t tokens = 7, heads = 4, d = 64, rows = tokens * heads;
  auto o1 = random_bf16(rows * d, rng), o2 = random_bf16(rows * d, rng);
  std::vector<float> l1(rows), l2(rows);
  std::uniform_real_distribution<float> dist(-5.f, 5.f);
  for (int64_t r = 0; r < rows; ++r) l1[size_t(r)] = dist(rng), l2[size_t(r)] = dist(rng);
  l1[0] = -INFINITY;                   // only the other side saw keys
  l2[1] = -INFINITY;                   // only this side
  l1[2] = l2[2] = -INFINITY;           // neither
  Tensor out = upload_bf16(gpu(), o1, {tokens, heads, d});
  Tensor lse = gpu().from_host(DType::F32, {tokens, heads}, l1.data());
  gpu().lse_merge(out, lse, upload_bf16(gpu(), o2, {tokens, heads, d}),
                  gpu().from_host(DType::F32, {tokens, heads}, l2.data()));
  std::vector<double> ref(static_cast<size_t>(rows * d));
  std::vector<double> ref_lse(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double a = l1[size_t(r)], b = l2[size_t(r)], m = std::max(a, b);
    double w1 = m == -INFINITY ? 0 : std::exp(a - m), w2 = m == -INFINITY ? 0 : std::exp(b - m);
    ref_lse[size_t(r)] = m == -INFINITY ? -INFINITY : m + std::log(w1 + w2);
    for (int64_t i = 0; i < d; ++i) {
      size_t at = size_t(r * d + i);
      ref[at] = m == -INFINITY ? 0 : (w1 * o1.values[at] + w2 * o2.values[at]) / (w1 + w2);
    }
  }
  auto got = gpu().to_host_f32(out);
  EXPECT_LT(relative_error(got, ref), 1e-2);
  for (int64_t i = 0; i < d; ++i) EXPECT_EQ(got[size_t(2 * d + i)], 0.f);
  auto got_lse = gpu().to_host_f32(lse);
  for (int64_t r = 0; r < rows; ++r) {
    if (std::isinf(ref_lse[size_t(r)]))
      EXPECT_EQ(got_lse[size_t(r)], -INFINITY) << r;
    else
      EXPECT_NEAR(got_lse[size_t(r)], ref_lse[size_t(r)], 1e-4) << r;
  }
}

TEST(CudaKernels, ArgmaxFirstIndexOnTies) {
  std::mt19937_64 rng(fresh_seed());
  const int64_t rows = 5, cols = 128256;
  auto logits = random_bf16(rows * cols, rng, -10.f, 10.f);
  // Row 1: a tie between two maxima; the first must win.
  logits.bits[size_t(1 * cols + 500)] = logits.bits[size_t(1 * cols + 90000)] = f32_to_bf16(50.f);
  logits.values[size_t(1 * cols + 500)] = logits.values[size_t(1 * cols + 90000)] = 50.f;
  auto got = gpu().argmax_rows(upload_bf16(gpu(), logits, {rows, cols}));
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    for (int64_t c = 1; c < cols; ++c)
      if (logits.values[size_t(r * cols + c)] > logits.values[size_t(r * cols + best)]) best = c;
    EXPECT_EQ(got[size_t(r)], best) << "row " << r;
  }
  EXPECT_EQ(got[1], 500);
}

TEST(CudaBackendMemory, AccountingFollowsTensorLifetimes) {
  size_t before = gpu().bytes_in_use();
  gpu().reset_peak();
  {
    Tensor a = gpu().empty(DType::BF16, {1024, 1024});
    EXPECT_GE(gpu().bytes_in_use(), before + a.nbytes());
    EXPECT_GE(gpu().peak_bytes(), before + a.nbytes());
  }
  EXPECT_EQ(gpu().bytes_in_use(), before);
  EXPECT_GT(gpu().memory_capacity_bytes(), size_t(1) << 30);
  auto timer = gpu().make_timer();
  timer->start();
  std::mt19937_64 rng(fresh_seed());
  Tensor big = upload_bf16(gpu(), random_bf16(2048 * 2048, rng), {2048, 2048});
  Tensor product = gpu().empty(DType::BF16, {2048, 2048});
  gpu().matmul(big, big, product);
  timer->stop();
  EXPECT_GT(timer->elapsed_ms(), 0.0);
  EXPECT_THROW(gpu().empty(DType::BF16, {int64_t(1) << 40}), Error);  // 2 TB: a clear out-of-memory error
}

}  // namespace
}  // namespace sb
