// The cpu backend's ops for decoding steps (the reference the cuda kernels are
// held to): position-addressed row writes, the causal-by-position mask, and
// attention over key blocks and head subsets against the plain ops.
#include <gtest/gtest.h>

#include <numeric>

#include "backend/cpu/cpu_backend.h"
#include "reference.h"
#include "util/error.h"

namespace sb {
namespace {

TEST(CpuDecodeOps, WriteRowsAtFollowsPositionsIntoARing) {
  CpuBackend backend;
  std::vector<float> store(12 * 2 * 4, 0.f), src(1 * 3 * 4);
  std::iota(src.begin(), src.end(), 1.f);
  Tensor dst = test::host_tensor(backend, {12, 2, 4}, store);
  const int32_t position = 107;
  Tensor positions = backend.from_host(DType::I32, {1}, &position);
  // Sink of 2 rows, ring of 10 from position 100: 107 -> row 2 + 7 = 9; heads 2 and 0 of src into 0 and 1.
  backend.write_rows_at(dst, test::host_tensor(backend, {1, 3, 4}, src), {positions, 100, 2, 10}, {0, 1}, {2, 0});
  auto got = backend.to_host_f32(dst);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(got[size_t((9 * 2 + 0) * 4 + i)], src[size_t(2 * 4 + i)]);
    EXPECT_EQ(got[size_t((9 * 2 + 1) * 4 + i)], src[size_t(0 * 4 + i)]);
  }
  EXPECT_EQ(std::count(got.begin(), got.end(), 0.f), int64_t(got.size()) - 8);
  // A wrap: 113 -> 2 + 13 mod 10 = 5. Outside the store: an error naming the row.
  const int32_t wrapped = 113, outside = 99;
  Tensor p2 = backend.from_host(DType::I32, {1}, &wrapped), p3 = backend.from_host(DType::I32, {1}, &outside);
  backend.write_rows_at(dst, test::host_tensor(backend, {1, 2, 4}, std::vector<float>(8, 5.f)), {p2, 100, 2, 10}, {}, {});
  EXPECT_EQ(backend.to_host_f32(dst)[size_t(5 * 8)], 5.f);
  EXPECT_THROW(backend.write_rows_at(dst, test::host_tensor(backend, {1, 2, 4}, std::vector<float>(8, 1.f)),
                                     {p3, 100, 0, 0}, {}, {}),
               Error);
}

TEST(CpuDecodeOps, AttentionBlocksEqualsAttentionAndMergeOnHeadSubsets) {
  CpuBackend backend;
  const uint64_t seed = test::fresh_seed();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  const int64_t tokens = 2, heads = 8, kv_all = 4, d = 16, context = 50, capacity = 9, held = 3;
  auto q = test::random_floats(rng, tokens * heads * d);
  // KV heads 1 and 3 only (query heads 2, 3, 6, 7), packed.
  auto ck = test::random_floats(rng, context * 2 * d), cv = test::random_floats(rng, context * 2 * d);
  auto tk = test::random_floats(rng, capacity * 2 * d), tv = test::random_floats(rng, capacity * 2 * d);
  const std::vector<int32_t> pos = {int32_t(context + held), int32_t(context + held + 1)};
  Tensor positions = backend.from_host(DType::I32, {tokens}, pos.data());
  Tensor qt = test::host_tensor(backend, {tokens, heads, d}, q);
  Tensor ckt = test::host_tensor(backend, {context, 2, d}, ck), cvt = test::host_tensor(backend, {context, 2, d}, cv);
  Tensor tkt = test::host_tensor(backend, {capacity, 2, d}, tk), tvt = test::host_tensor(backend, {capacity, 2, d}, tv);
  std::vector<float> poison(size_t(tokens * heads * d), 7.f), poison_lse(size_t(tokens * heads), 7.f);
  Tensor out = test::host_tensor(backend, {tokens, heads, d}, poison);
  Tensor lse = test::host_tensor(backend, {tokens, heads}, poison_lse);
  const std::vector<int64_t> q_heads = {2, 3, 6, 7};
  backend.attention_blocks(qt, {{ckt, cvt, AttentionMask::none()}, {tkt, tvt, AttentionMask::causal_at(positions, context, held)}},
                           q_heads, 0.25f, out, lse);
  // The same by hand: packed q, plain attention per block (tail rows [0, held + 2)), merge.
  Tensor qp = backend.empty(DType::F32, {tokens, 4, d});
  backend.copy_head_list(qp, 0, qt, 0, tokens, {0, 1, 2, 3}, q_heads);
  Tensor o1 = backend.empty(DType::F32, {tokens, 4, d}), l1 = backend.empty(DType::F32, {tokens, 4});
  Tensor o2 = backend.empty(DType::F32, {tokens, 4, d}), l2 = backend.empty(DType::F32, {tokens, 4});
  backend.attention(qp, ckt, cvt, AttentionMask::none(), 0.25f, o1, l1);
  backend.attention(qp, tkt.rows(0, held + tokens), tvt.rows(0, held + tokens), AttentionMask::bottom_right(tokens, held + tokens),
                    0.25f, o2, l2);
  backend.lse_merge(o1, l1, o2, l2);
  auto got = backend.to_host_f32(out), want = backend.to_host_f32(o1);
  auto got_lse = backend.to_host_f32(lse), want_lse = backend.to_host_f32(l1);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const auto at = std::find(q_heads.begin(), q_heads.end(), h);
      for (int64_t i = 0; i < d; ++i) {
        const float value = got[size_t((t * heads + h) * d + i)];
        if (at == q_heads.end())
          ASSERT_EQ(value, 7.f) << "head " << h << " is not in the subset but was written";
        else
          ASSERT_FLOAT_EQ(value, want[size_t((t * 4 + (at - q_heads.begin())) * d + i)]) << t << " " << h << " " << i;
      }
      if (at != q_heads.end())
        EXPECT_FLOAT_EQ(got_lse[size_t(t * heads + h)], want_lse[size_t(t * 4 + (at - q_heads.begin()))]);
    }
  // The positions and the host's bound must agree.
  EXPECT_THROW(backend.attention_blocks(qt, {{tkt, tvt, AttentionMask::causal_at(positions, context, held + 1)}},
                                        q_heads, 0.25f, out, lse),
               Error);
}

}  // namespace
}  // namespace sb
