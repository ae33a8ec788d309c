// APB's ops (backend.h, "APB's passing blocks") against float64 references, on
// the cpu backend's own loops and on Backend's host-memory defaults, with F32
// and BF16 tensors. Each reference is written from the op's contract, and the
// edge and tie cases are built so that a wrong window or tie rule fails them
// (the *Discriminates* tests check that the inputs tell the rules apart).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "reference.h"
#include "util/dtype.h"
#include "util/error.h"

namespace sb {
namespace {

// The cpu backend with APB's ops routed to Backend's defaults: the reference
// semantics the cpu loops must reproduce bit for bit.
class DefaultApbOps : public CpuBackend {
 public:
  void silu(Tensor& x) override { Backend::silu(x); }
  void max_pool_rows(const Tensor& x, int64_t radius, Tensor& out) override { Backend::max_pool_rows(x, radius, out); }
  void top_k_rows(const Tensor& scores, int64_t row_begin, int64_t k, Tensor& indices) override {
    Backend::top_k_rows(scores, row_begin, k, indices);
  }
  void gather_head_rows(const Tensor& src, const Tensor& indices, Tensor& dst) override {
    Backend::gather_head_rows(src, indices, dst);
  }
};

enum class Ops { Cpu, Default };

std::unique_ptr<Backend> make_ops(Ops ops) {
  if (ops == Ops::Cpu) return std::make_unique<CpuBackend>();
  return std::make_unique<DefaultApbOps>();
}

std::string ops_name(Ops ops) { return ops == Ops::Cpu ? "cpu" : "default"; }

// A tensor of `dtype` holding `values`; for BF16 the values are rounded in
// place first, so the references see exactly what the op sees.
Tensor make_tensor(Backend& backend, DType dtype, std::vector<int64_t> shape, std::vector<float>& values) {
  if (dtype == DType::F32) return backend.from_host(DType::F32, std::move(shape), values.data());
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    bits[i] = f32_to_bf16(values[i]);
    values[i] = bf16_to_f32(bits[i]);
  }
  return backend.from_host(DType::BF16, std::move(shape), bits.data());
}

std::vector<int32_t> indices_of(Backend& backend, const Tensor& indices) {
  std::vector<float> values = backend.to_host_f32(indices);
  return std::vector<int32_t>(values.begin(), values.end());
}

// --- float64 references, from the contracts in backend.h ---------------------

double reference_silu(double x) { return x / (1.0 + std::exp(-x)); }

// out[t, c] = max x[u, c] over u in [t - radius - shift_lo, t + radius + shift_hi] within [0, T).
// shift_lo/shift_hi != 0 are the off-by-one windows the tests must reject.
std::vector<double> reference_max_pool(const std::vector<float>& x, int64_t rows, int64_t columns, int64_t radius,
                                       int64_t shift_lo = 0, int64_t shift_hi = 0) {
  std::vector<double> out(size_t(rows * columns));
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t c = 0; c < columns; ++c) {
      double best = -std::numeric_limits<double>::infinity();
      for (int64_t u = t - radius - shift_lo; u <= t + radius + shift_hi; ++u)
        if (u >= 0 && u < rows) best = std::max(best, double(x[size_t(u * columns + c)]));
      out[size_t(t * columns + c)] = best;
    }
  return out;
}

// Per column: the k rows in [row_begin, T) with the largest scores, ties to
// the lower row (or, with higher_row_wins, the wrong rule), ascending. [C, k].
std::vector<int32_t> reference_top_k(const std::vector<float>& scores, int64_t rows, int64_t columns, int64_t row_begin,
                                     int64_t k, bool higher_row_wins = false) {
  std::vector<int32_t> out;
  for (int64_t c = 0; c < columns; ++c) {
    std::vector<int64_t> order(size_t(rows - row_begin));
    std::iota(order.begin(), order.end(), row_begin);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      const double va = scores[size_t(a * columns + c)], vb = scores[size_t(b * columns + c)];
      if (va != vb) return va > vb;
      return higher_row_wins ? a > b : a < b;
    });
    order.resize(size_t(k));
    std::sort(order.begin(), order.end());
    for (int64_t row : order) out.push_back(int32_t(row));
  }
  return out;
}

constexpr DType kDtypes[] = {DType::F32, DType::BF16};
constexpr Ops kOps[] = {Ops::Cpu, Ops::Default};

struct RowsColumns {
  int64_t rows, columns;
};
const std::vector<RowsColumns> kShapes = {{1, 1}, {2, 3}, {7, 8}, {64, 8}, {301, 5}, {1000, 2}};

// --- silu ---------------------------------------------------------------------

TEST(ApbSilu, MatchesFloat64Reference) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (Ops ops : kOps)
    for (DType dtype : kDtypes)
      for (const RowsColumns& shape : kShapes) {
        SCOPED_TRACE(testing::Message() << ops_name(ops) << " " << dtype_name(dtype) << " [" << shape.rows << ", "
                                        << shape.columns << "]");
        auto backend = make_ops(ops);
        std::vector<float> x = test::random_floats(rng, shape.rows * shape.columns, -12.f, 12.f);
        // The tails: exp(-x) overflows f32 for x < -88.7, and x = 0.
        x[0] = shape.rows * shape.columns > 1 ? -100.f : 0.f;
        if (x.size() > 2) x[1] = 100.f, x[2] = 0.f;
        Tensor t = make_tensor(*backend, dtype, {shape.rows, shape.columns}, x);
        backend->silu(t);
        const std::vector<float> got = backend->to_host_f32(t);
        // f32: a few ulp of exp and one division; bf16: half an ulp of the store on top.
        const double relative = dtype == DType::F32 ? 1e-6 : std::ldexp(1.0, -8) * 1.01;
        for (size_t i = 0; i < x.size(); ++i) {
          const double want = reference_silu(x[i]);
          ASSERT_NEAR(got[i], want, relative * std::fabs(want) + 1e-30) << "x " << x[i] << " at " << i;
        }
      }
}

TEST(ApbSilu, RejectsNonFloatTensors) {
  CpuBackend backend;
  std::vector<int32_t> ids = {1, 2};
  Tensor t = backend.from_host(DType::I32, {2}, ids.data());
  EXPECT_THROW(backend.silu(t), Error);
}

// --- max_pool_rows ------------------------------------------------------------

TEST(ApbMaxPool, MatchesFloat64ReferenceForEveryRadius) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (Ops ops : kOps)
    for (DType dtype : kDtypes)
      for (const RowsColumns& shape : kShapes)
        for (int64_t radius : {int64_t(0), int64_t(1), int64_t(2), shape.rows + 3}) {
          SCOPED_TRACE(testing::Message() << ops_name(ops) << " " << dtype_name(dtype) << " [" << shape.rows << ", "
                                          << shape.columns << "] radius " << radius);
          auto backend = make_ops(ops);
          std::vector<float> x = test::random_floats(rng, shape.rows * shape.columns, -5.f, 5.f);
          Tensor t = make_tensor(*backend, dtype, {shape.rows, shape.columns}, x);
          std::vector<float> poison(x.size(), 77.f);
          Tensor out = make_tensor(*backend, dtype, {shape.rows, shape.columns}, poison);
          backend->max_pool_rows(t, radius, out);
          const std::vector<float> got = backend->to_host_f32(out);
          const std::vector<double> want = reference_max_pool(x, shape.rows, shape.columns, radius);
          for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(double(got[i]), want[i]) << "element " << i;
          // The input stays as it was.
          ASSERT_EQ(backend->to_host_f32(t), x);
        }
}

// A spike in the first and in the last row of a column reaches exactly the
// rows within the radius of it, no further: an off-by-one at either end of the
// window, or a clipped edge, fails here.
TEST(ApbMaxPool, WindowReachesExactlyRadiusRowsAtTheEdges) {
  for (Ops ops : kOps)
    for (DType dtype : kDtypes)
      for (int64_t radius : {0, 1, 2, 3}) {
        SCOPED_TRACE(testing::Message() << ops_name(ops) << " " << dtype_name(dtype) << " radius " << radius);
        auto backend = make_ops(ops);
        const int64_t rows = 12, columns = 3;
        std::vector<float> x(size_t(rows * columns), 0.f);
        x[size_t(0 * columns + 0)] = 5.f;           // column 0: first row
        x[size_t((rows - 1) * columns + 1)] = 6.f;  // column 1: last row
        x[size_t(5 * columns + 2)] = 7.f;           // column 2: a middle row
        Tensor t = make_tensor(*backend, dtype, {rows, columns}, x);
        Tensor out = backend->empty(dtype, {rows, columns});
        backend->max_pool_rows(t, radius, out);
        const std::vector<float> got = backend->to_host_f32(out);
        for (int64_t r = 0; r < rows; ++r) {
          EXPECT_EQ(got[size_t(r * columns + 0)], r <= radius ? 5.f : 0.f) << "row " << r;
          EXPECT_EQ(got[size_t(r * columns + 1)], r >= rows - 1 - radius ? 6.f : 0.f) << "row " << r;
          EXPECT_EQ(got[size_t(r * columns + 2)], std::abs(r - 5) <= radius ? 7.f : 0.f) << "row " << r;
        }
      }
}

TEST(ApbMaxPool, PaddingNeverWinsOverNegativeValues) {
  for (Ops ops : kOps) {
    auto backend = make_ops(ops);
    std::vector<float> x = {-3.f, -1.f, -4.f, -2.f};
    Tensor t = make_tensor(*backend, DType::F32, {4, 1}, x);
    Tensor out = backend->empty(DType::F32, {4, 1});
    backend->max_pool_rows(t, 1, out);
    EXPECT_EQ(backend->to_host_f32(out), (std::vector<float>{-1.f, -1.f, -1.f, -2.f})) << ops_name(ops);
  }
}

TEST(ApbMaxPool, DiscriminatesOffByOneWindows) {
  // The random inputs of the test above tell the exact window from one row
  // more or less on either side (so that test would catch such a bug).
  std::mt19937_64 rng(7);
  std::vector<float> x = test::random_floats(rng, 64 * 8, -5.f, 5.f);
  const auto exact = reference_max_pool(x, 64, 8, 2);
  EXPECT_NE(exact, reference_max_pool(x, 64, 8, 2, 1, 0));
  EXPECT_NE(exact, reference_max_pool(x, 64, 8, 2, 0, 1));
  EXPECT_NE(exact, reference_max_pool(x, 64, 8, 2, -1, 0));
  EXPECT_NE(exact, reference_max_pool(x, 64, 8, 2, 0, -1));
}

TEST(ApbMaxPool, RejectsMismatchedShapesAndNegativeRadius) {
  CpuBackend backend;
  Tensor x = backend.empty(DType::F32, {4, 2}), out = backend.empty(DType::F32, {4, 3});
  Tensor good = backend.empty(DType::F32, {4, 2}), flat = backend.empty(DType::F32, {8});
  EXPECT_THROW(backend.max_pool_rows(x, 1, out), Error);
  EXPECT_THROW(backend.max_pool_rows(x, -1, good), Error);
  EXPECT_THROW(backend.max_pool_rows(flat, 1, flat), Error);
}

// --- top_k_rows ---------------------------------------------------------------

struct TopKCase {
  int64_t rows, columns, row_begin, k;
};

void check_top_k(Backend& backend, DType dtype, const TopKCase& c, std::vector<float> scores) {
  SCOPED_TRACE(testing::Message() << dtype_name(dtype) << " [" << c.rows << ", " << c.columns << "] rows from "
                                  << c.row_begin << ", k " << c.k);
  Tensor t = make_tensor(backend, dtype, {c.rows, c.columns}, scores);
  std::vector<int32_t> poison(size_t(c.columns * c.k), -7);
  Tensor indices = backend.from_host(DType::I32, {c.columns, c.k}, poison.data());
  backend.top_k_rows(t, c.row_begin, c.k, indices);
  ASSERT_EQ(indices_of(backend, indices), reference_top_k(scores, c.rows, c.columns, c.row_begin, c.k));
}

const std::vector<TopKCase> kTopKCases = {
    {1, 1, 0, 1},  {1, 1, 0, 0},     {5, 3, 0, 5},    {5, 3, 2, 3},      {9, 8, 4, 0},     {64, 8, 0, 7},
    {64, 8, 16, 48}, {300, 8, 40, 33}, {1000, 2, 999, 1}, {1000, 2, 100, 500}, {2048, 8, 512, 256}};

TEST(ApbTopK, MatchesReferenceOnDistinctScores) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (Ops ops : kOps)
    for (DType dtype : kDtypes)
      for (const TopKCase& c : kTopKCases) {
        SCOPED_TRACE(ops_name(ops));
        auto backend = make_ops(ops);
        check_top_k(*backend, dtype, c, test::random_floats(rng, c.rows * c.columns, -4.f, 4.f));
      }
}

// Scores from four values: ties everywhere, broken to the lower row.
TEST(ApbTopK, TiesGoToTheLowerRow) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> level(0, 3);
  for (Ops ops : kOps)
    for (DType dtype : kDtypes)
      for (const TopKCase& c : kTopKCases) {
        SCOPED_TRACE(ops_name(ops));
        auto backend = make_ops(ops);
        std::vector<float> scores(size_t(c.rows * c.columns));
        for (float& s : scores) s = 0.5f * float(level(rng)) - 1.f;
        check_top_k(*backend, dtype, c, scores);
      }
  // By hand: all equal, k = 2 of rows [1, 5) -> rows 1 and 2.
  for (Ops ops : kOps) {
    auto backend = make_ops(ops);
    std::vector<float> flat(5, 1.f);
    Tensor t = make_tensor(*backend, DType::F32, {5, 1}, flat);
    Tensor indices = backend->empty(DType::I32, {1, 2});
    backend->top_k_rows(t, 1, 2, indices);
    EXPECT_EQ(indices_of(*backend, indices), (std::vector<int32_t>{1, 2})) << ops_name(ops);
  }
}

TEST(ApbTopK, DiscriminatesTheTieRule) {
  // The tie inputs above (64 rows, 4 levels, k = 7) select other rows under
  // the higher-row rule, so the test above would catch it.
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> level(0, 3);
  std::vector<float> scores(64 * 8);
  for (float& s : scores) s = 0.5f * float(level(rng)) - 1.f;
  EXPECT_NE(reference_top_k(scores, 64, 8, 0, 7), reference_top_k(scores, 64, 8, 0, 7, true));
}

// Rows before row_begin are never chosen, however large; k = every row left
// lists them all; the list is in ascending row order, not by score.
TEST(ApbTopK, RowBeginExcludesEarlierRowsAndListsAscend) {
  for (Ops ops : kOps)
    for (DType dtype : kDtypes) {
      SCOPED_TRACE(testing::Message() << ops_name(ops) << " " << dtype_name(dtype));
      auto backend = make_ops(ops);
      std::vector<float> scores = {100.f, 100.f, 1.f, 4.f, 2.f, 3.f};  // [6, 1]
      Tensor t = make_tensor(*backend, dtype, {6, 1}, scores);
      Tensor two = backend->empty(DType::I32, {1, 2}), all = backend->empty(DType::I32, {1, 4});
      backend->top_k_rows(t, 2, 2, two);
      EXPECT_EQ(indices_of(*backend, two), (std::vector<int32_t>{3, 5}));
      backend->top_k_rows(t, 2, 4, all);
      EXPECT_EQ(indices_of(*backend, all), (std::vector<int32_t>{2, 3, 4, 5}));
    }
}

TEST(ApbTopK, RejectsBadRangesAndIndexTensors) {
  CpuBackend backend;
  Tensor scores = backend.empty(DType::F32, {6, 2});
  Tensor i32 = backend.empty(DType::I32, {2, 3}), f32 = backend.empty(DType::F32, {2, 3});
  Tensor wrong_columns = backend.empty(DType::I32, {3, 3}), too_many = backend.empty(DType::I32, {2, 5});
  EXPECT_THROW(backend.top_k_rows(scores, 4, 3, i32), Error);  // 3 of 2 rows
  EXPECT_THROW(backend.top_k_rows(scores, -1, 3, i32), Error);
  EXPECT_THROW(backend.top_k_rows(scores, 0, 3, f32), Error);
  EXPECT_THROW(backend.top_k_rows(scores, 0, 3, wrong_columns), Error);
  EXPECT_THROW(backend.top_k_rows(scores, 2, 5, too_many), Error);
}

// --- gather_head_rows ---------------------------------------------------------

TEST(ApbGatherHeadRows, MatchesReferenceForArbitraryIndices) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  struct Case {
    int64_t rows, heads, d, k;
  };
  for (Ops ops : kOps)
    for (DType dtype : kDtypes)
      for (const Case& c : std::vector<Case>{{1, 1, 1, 1}, {5, 2, 3, 0}, {17, 8, 16, 9}, {300, 8, 64, 40}, {64, 3, 128, 64}}) {
        SCOPED_TRACE(testing::Message() << ops_name(ops) << " " << dtype_name(dtype) << " [" << c.rows << ", "
                                        << c.heads << ", " << c.d << "] k " << c.k);
        auto backend = make_ops(ops);
        std::vector<float> src = test::random_floats(rng, c.rows * c.heads * c.d);
        Tensor s = make_tensor(*backend, dtype, {c.rows, c.heads, c.d}, src);
        // Any rows, repeated and unordered, other ones per head.
        std::uniform_int_distribution<int32_t> row(0, int32_t(c.rows - 1));
        std::vector<int32_t> picks(size_t(c.heads * c.k));
        for (int32_t& p : picks) p = row(rng);
        if (!picks.empty()) picks.back() = int32_t(c.rows - 1), picks.front() = 0;
        Tensor indices = backend->from_host(DType::I32, {c.heads, c.k}, picks.data());
        std::vector<float> poison(size_t(c.k * c.heads * c.d), 9.f);
        Tensor dst = make_tensor(*backend, dtype, {c.k, c.heads, c.d}, poison);
        backend->gather_head_rows(s, indices, dst);
        const std::vector<float> got = backend->to_host_f32(dst);
        for (int64_t i = 0; i < c.k; ++i)
          for (int64_t h = 0; h < c.heads; ++h)
            for (int64_t e = 0; e < c.d; ++e) {
              const int64_t from = picks[size_t(h * c.k + i)];
              ASSERT_EQ(got[size_t((i * c.heads + h) * c.d + e)], src[size_t((from * c.heads + h) * c.d + e)])
                  << "row " << i << " head " << h << " element " << e;
            }
      }
}

TEST(ApbGatherHeadRows, RejectsRowsOutsideTheSourceAndBadShapes) {
  for (Ops ops : kOps) {
    SCOPED_TRACE(ops_name(ops));
    auto backend = make_ops(ops);
    Tensor src = backend->empty(DType::F32, {4, 2, 3}), dst = backend->empty(DType::F32, {1, 2, 3});
    for (int32_t bad : {-1, 4}) {
      const std::vector<int32_t> picks = {0, bad};
      Tensor indices = backend->from_host(DType::I32, {2, 1}, picks.data());
      EXPECT_THROW(backend->gather_head_rows(src, indices, dst), Error) << bad;
    }
    const std::vector<int32_t> picks = {0, 1};
    Tensor indices = backend->from_host(DType::I32, {2, 1}, picks.data());
    Tensor other_dtype = backend->empty(DType::BF16, {1, 2, 3}), other_d = backend->empty(DType::F32, {1, 2, 4});
    EXPECT_THROW(backend->gather_head_rows(src, indices, other_dtype), Error);
    EXPECT_THROW(backend->gather_head_rows(src, indices, other_d), Error);
    Tensor wrong_heads = backend->from_host(DType::I32, {1, 2}, picks.data());
    EXPECT_THROW(backend->gather_head_rows(src, wrong_heads, dst), Error);
  }
}

// --- the cpu loops against the defaults, bit for bit --------------------------

TEST(ApbOps, CpuLoopsEqualTheDefaultsBitForBit) {
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  CpuBackend cpu;
  DefaultApbOps defaults;
  for (DType dtype : kDtypes) {
    SCOPED_TRACE(dtype_name(dtype));
    const int64_t rows = 777, columns = 8;
    std::vector<float> x = test::random_floats(rng, rows * columns, -30.f, 30.f);
    Tensor a = make_tensor(cpu, dtype, {rows, columns}, x), b = make_tensor(defaults, dtype, {rows, columns}, x);
    cpu.silu(a);
    defaults.silu(b);
    ASSERT_EQ(cpu.to_host_f32(a), defaults.to_host_f32(b)) << "silu";
    Tensor pa = cpu.empty(dtype, {rows, columns}), pb = defaults.empty(dtype, {rows, columns});
    cpu.max_pool_rows(a, 2, pa);
    defaults.max_pool_rows(b, 2, pb);
    ASSERT_EQ(cpu.to_host_f32(pa), defaults.to_host_f32(pb)) << "max_pool_rows";
    Tensor ia = cpu.empty(DType::I32, {columns, 100}), ib = defaults.empty(DType::I32, {columns, 100});
    cpu.top_k_rows(pa, 50, 100, ia);
    defaults.top_k_rows(pb, 50, 100, ib);
    ASSERT_EQ(indices_of(cpu, ia), indices_of(defaults, ib)) << "top_k_rows";
  }
}

}  // namespace
}  // namespace sb
