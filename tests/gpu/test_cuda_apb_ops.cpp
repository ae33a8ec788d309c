// APB's ops on the GPU (kernels/apb_compressor.cu, apb_select.cu) against the
// cpu backend on the same inputs (which tests/unit/backend/test_apb_ops.cpp
// holds to float64 references): silu within an ulp of bf16, the max-pool, the
// top-k rows and the gathered rows exactly, at APB's sizes (T up to 64K rows,
// k up to 8K, 8 KV heads), ties included.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend/backend_factory.h"
#include "gpu_test_util.h"
#include "util/dtype.h"
#include "util/error.h"

namespace sb {
namespace {

using namespace test;  // the helpers of gpu_test_util.h

struct Both {
  std::unique_ptr<Backend> cpu = make_backend("cpu", 0);
  // The same values on both: F32 on the cpu, `dtype` on the GPU (bf16 values are exact in both).
  std::pair<Tensor, Tensor> tensor(const HostBf16& data, std::vector<int64_t> shape, DType dtype) {
    Tensor host = cpu->from_host(DType::F32, shape, data.values.data());
    if (dtype == DType::BF16) return {host, gpu().from_host(DType::BF16, shape, data.bits.data())};
    return {host, gpu().from_host(DType::F32, shape, data.values.data())};
  }
};

std::vector<int32_t> ints(Backend& backend, const Tensor& t) {
  std::vector<float> values = backend.to_host_f32(t);
  return std::vector<int32_t>(values.begin(), values.end());
}

TEST(CudaApbOps, SiluMatchesCpu) {
  Both b;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (DType dtype : {DType::BF16, DType::F32}) {
    const int64_t rows = 4097, hidden = 1024;
    auto [c, g] = b.tensor(random_bf16(rows * hidden, rng, -12.f, 12.f), {rows, hidden}, dtype);
    b.cpu->silu(c);
    gpu().silu(g);
    const auto want = b.cpu->to_host_f32(c), got = gpu().to_host_f32(g);
    // The cpu rounds f32 silu once; the GPU's expf may differ by an f32 ulp or
    // two, which can move a bf16 rounding by one ulp.
    const double tolerance = dtype == DType::BF16 ? std::ldexp(1.0, -7) : 1e-6;
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], tolerance * std::fabs(want[i]) + 1e-30) << dtype_name(dtype) << " at " << i;
  }
}

TEST(CudaApbOps, MaxPoolRowsEqualsCpu) {
  Both b;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (DType dtype : {DType::BF16, DType::F32})
    for (int64_t rows : {int64_t(1), int64_t(37), int64_t(65536)})
      for (int64_t radius : {int64_t(0), int64_t(2), int64_t(40)}) {
        const int64_t columns = 8;
        auto [c, g] = b.tensor(random_bf16(rows * columns, rng, -5.f, 5.f), {rows, columns}, dtype);
        Tensor c_out = b.cpu->empty(DType::F32, {rows, columns}), g_out = poisoned(gpu(), dtype, {rows, columns});
        b.cpu->max_pool_rows(c, radius, c_out);
        gpu().max_pool_rows(g, radius, g_out);
        ASSERT_EQ(gpu().to_host_f32(g_out), b.cpu->to_host_f32(c_out))
            << dtype_name(dtype) << " rows " << rows << " radius " << radius;
      }
}

struct TopKCase {
  int64_t rows, columns, row_begin, k;
  bool ties;
};

TEST(CudaApbOps, TopKRowsEqualsCpu) {
  Both b;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> level(0, 7);
  for (DType dtype : {DType::BF16, DType::F32})
    for (const TopKCase& t : std::vector<TopKCase>{{1, 1, 0, 1, false},
                                                   {10, 3, 4, 6, true},
                                                   {300, 8, 40, 0, false},
                                                   {300, 8, 40, 260, true},
                                                   {4096, 8, 1024, 512, false},
                                                   {4096, 8, 1024, 512, true},
                                                   {65536 + 2048, 8, 2048, 8192, false},
                                                   {65536 + 2048, 8, 2048, 8192, true},
                                                   {20000, 5, 0, 20000, true}}) {
      SCOPED_TRACE(testing::Message() << dtype_name(dtype) << " [" << t.rows << ", " << t.columns << "] from "
                                      << t.row_begin << " k " << t.k << (t.ties ? " ties" : ""));
      HostBf16 data = random_bf16(t.rows * t.columns, rng, -4.f, 4.f);
      if (t.ties) {  // eight levels (and both zeros): ties everywhere
        for (size_t i = 0; i < data.values.size(); ++i) {
          const int l = level(rng);
          data.values[i] = l == 0 ? -0.0f : 0.5f * float(l - 4);
          data.bits[i] = f32_to_bf16(data.values[i]);
        }
      }
      auto [c, g] = b.tensor(data, {t.rows, t.columns}, dtype);
      Tensor c_idx = b.cpu->empty(DType::I32, {t.columns, t.k});
      std::vector<int32_t> poison(size_t(t.columns * t.k), -5);
      Tensor g_idx = gpu().from_host(DType::I32, {t.columns, t.k}, poison.data());
      b.cpu->top_k_rows(c, t.row_begin, t.k, c_idx);
      gpu().top_k_rows(g, t.row_begin, t.k, g_idx);
      ASSERT_EQ(ints(gpu(), g_idx), ints(*b.cpu, c_idx));
    }
}

TEST(CudaApbOps, GatherHeadRowsEqualsCpu) {
  Both b;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (DType dtype : {DType::BF16, DType::F32})
    for (int64_t d : {int64_t(128), int64_t(3)}) {
      const int64_t rows = 5000, heads = 8, k = 700;
      auto [c, g] = b.tensor(random_bf16(rows * heads * d, rng), {rows, heads, d}, dtype);
      std::uniform_int_distribution<int32_t> row(0, int32_t(rows - 1));
      std::vector<int32_t> picks(size_t(heads * k));
      for (int32_t& p : picks) p = row(rng);
      Tensor c_idx = b.cpu->from_host(DType::I32, {heads, k}, picks.data());
      Tensor g_idx = gpu().from_host(DType::I32, {heads, k}, picks.data());
      Tensor c_out = b.cpu->empty(DType::F32, {k, heads, d}), g_out = poisoned(gpu(), dtype, {k, heads, d});
      b.cpu->gather_head_rows(c, c_idx, c_out);
      gpu().gather_head_rows(g, g_idx, g_out);
      ASSERT_EQ(gpu().to_host_f32(g_out), b.cpu->to_host_f32(c_out)) << dtype_name(dtype) << " d " << d;
    }
  // A row outside the source: reported at the next synchronize.
  Tensor src = gpu().empty(DType::BF16, {4, 2, 8}), dst = gpu().empty(DType::BF16, {1, 2, 8});
  const std::vector<int32_t> bad = {0, 4};
  Tensor idx = gpu().from_host(DType::I32, {2, 1}, bad.data());
  gpu().gather_head_rows(src, idx, dst);
  EXPECT_THROW(gpu().synchronize(), Error);
}

// The selection as APB runs it: pool the scores, pick the block's rows, gather their K.
TEST(CudaApbOps, SelectionPipelineEqualsCpu) {
  Both b;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const int64_t anchor = 1024, block = 16384, rows = anchor + block, heads = 8, d = 128, passing = 2048;
  auto [sc, sg] = b.tensor(random_bf16(rows * heads, rng, -3.f, 3.f), {rows, heads}, DType::BF16);
  auto [kc, kg] = b.tensor(random_bf16(rows * heads * d, rng), {rows, heads, d}, DType::BF16);
  Tensor pc = b.cpu->empty(DType::F32, {rows, heads}), pg = gpu().empty(DType::BF16, {rows, heads});
  b.cpu->max_pool_rows(sc, 2, pc);
  gpu().max_pool_rows(sg, 2, pg);
  Tensor ic = b.cpu->empty(DType::I32, {heads, passing}), ig = gpu().empty(DType::I32, {heads, passing});
  b.cpu->top_k_rows(pc, anchor, passing, ic);
  gpu().top_k_rows(pg, anchor, passing, ig);
  Tensor oc = b.cpu->empty(DType::F32, {passing, heads, d}), og = gpu().empty(DType::BF16, {passing, heads, d});
  b.cpu->gather_head_rows(kc, ic, oc);
  gpu().gather_head_rows(kg, ig, og);
  ASSERT_EQ(ints(gpu(), ig), ints(*b.cpu, ic));
  ASSERT_EQ(gpu().to_host_f32(og), b.cpu->to_host_f32(oc));
}

}  // namespace
}  // namespace sb
