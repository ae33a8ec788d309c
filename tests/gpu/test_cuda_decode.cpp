// The decoding step's ops on the GPU: the fused GEMV projections and the
// position-addressed KV writes against the cpu backend, flash-decoding
// (attention_blocks) against a float64 reference, and whole methods (global,
// duo) decoding through CUDA graphs against the same run op by op and the
// legacy path: the same greedy tokens.
#include <gtest/gtest.h>

#include <cmath>

#include "attention/method_factory.h"
#include "comm/comm_factory.h"
#include "backend/cuda/cuda_backend.h"
#include "experiment/forward_pass.h"
#include "gpu_test_util.h"
#include "model/config.h"
#include "model/weights.h"
#include "tests/support/tiny_model.h"

namespace sb {
namespace {

using test::fresh_seed;
using test::gpu;
using test::poisoned;
using test::random_bf16;
using test::relative_error;
using test::upload_bf16;

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> bd(b.begin(), b.end());
  return relative_error(a, bd);
}

struct Both {
  std::unique_ptr<Backend> cpu = make_backend("cpu", 0);
  std::pair<Tensor, Tensor> tensor(const test::HostBf16& data, std::vector<int64_t> shape) {
    return {cpu->from_host(DType::F32, shape, data.values.data()), gpu().from_host(DType::BF16, shape, data.bits.data())};
  }
};

TEST(CudaDecode, FusedProjectionsAgreeWithCpu) {
  Both b;
  std::mt19937_64 rng(fresh_seed());
  const int64_t hidden = 512, nq = 256, nkv = 64, ffn = 1024;
  for (int64_t tokens : {int64_t(1), int64_t(3), int64_t(4)}) {
    auto [x_c, x_g] = b.tensor(random_bf16(tokens * hidden, rng), {tokens, hidden});
    auto [g_c, g_g] = b.tensor(random_bf16(hidden, rng, 0.5f, 1.5f), {hidden});
    auto [wq_c, wq_g] = b.tensor(random_bf16(nq * hidden, rng, -0.1f, 0.1f), {nq, hidden});
    auto [wk_c, wk_g] = b.tensor(random_bf16(nkv * hidden, rng, -0.1f, 0.1f), {nkv, hidden});
    auto [wv_c, wv_g] = b.tensor(random_bf16(nkv * hidden, rng, -0.1f, 0.1f), {nkv, hidden});
    std::vector<Tensor> out_c, out_g;
    for (int64_t n : {nq, nkv, nkv}) {
      out_c.push_back(b.cpu->empty(DType::F32, {tokens, n}));
      out_g.push_back(poisoned(gpu(), DType::BF16, {tokens, n}));
    }
    b.cpu->rmsnorm_matmul(x_c, g_c, 1e-5f, {&wq_c, &wk_c, &wv_c}, {&out_c[0], &out_c[1], &out_c[2]});
    gpu().rmsnorm_matmul(x_g, g_g, 1e-5f, {&wq_g, &wk_g, &wv_g}, {&out_g[0], &out_g[1], &out_g[2]});
    for (int i = 0; i < 3; ++i)
      EXPECT_LT(rel(gpu().to_host_f32(out_g[size_t(i)]), b.cpu->to_host_f32(out_c[size_t(i)])), 1e-2)
          << "rmsnorm_matmul output " << i << " tokens " << tokens;

    auto [wg_c, wg_g] = b.tensor(random_bf16(ffn * hidden, rng, -0.1f, 0.1f), {ffn, hidden});
    auto [wu_c, wu_g] = b.tensor(random_bf16(ffn * hidden, rng, -0.1f, 0.1f), {ffn, hidden});
    Tensor s_c = b.cpu->empty(DType::F32, {tokens, ffn}), s_g = poisoned(gpu(), DType::BF16, {tokens, ffn});
    b.cpu->rmsnorm_swiglu(x_c, g_c, 1e-5f, wg_c, wu_c, s_c);
    gpu().rmsnorm_swiglu(x_g, g_g, 1e-5f, wg_g, wu_g, s_g);
    EXPECT_LT(rel(gpu().to_host_f32(s_g), b.cpu->to_host_f32(s_c)), 2e-2) << "rmsnorm_swiglu tokens " << tokens;

    // A plain matmul at T <= 4 runs the GEMV: accumulate into the residual, K = 1024 (two unrolled batches).
    auto [d_c, d_g] = b.tensor(random_bf16(ffn * hidden, rng, -0.1f, 0.1f), {hidden, ffn});
    auto [r_c, r_g] = b.tensor(random_bf16(tokens * hidden, rng), {tokens, hidden});
    auto [a_c, a_g] = b.tensor(random_bf16(tokens * ffn, rng), {tokens, ffn});
    b.cpu->matmul(a_c, d_c, r_c, /*accumulate=*/true);
    gpu().matmul(a_g, d_g, r_g, /*accumulate=*/true);
    EXPECT_LT(rel(gpu().to_host_f32(r_g), b.cpu->to_host_f32(r_c)), 1e-2) << "gemv accumulate tokens " << tokens;
  }
}

TEST(CudaDecode, WriteRowsAtAgreesBitForBit) {
  Both b;
  std::mt19937_64 rng(fresh_seed());
  const int64_t rows = 40, heads = 8, d = 64;
  auto store = random_bf16(rows * 3 * d, rng), src = random_bf16(1 * heads * d, rng);
  auto [dst_c, dst_g] = b.tensor(store, {rows, 3, d});
  auto [src_c, src_g] = b.tensor(src, {1, heads, d});
  // A ring of 30 rows after 10 sink rows; position 1000 from base 955: row 10 + 45 mod 30 = 25.
  const int32_t position = 1000;
  Tensor pos_c = b.cpu->from_host(DType::I32, {1}, &position), pos_g = gpu().from_host(DType::I32, {1}, &position);
  const std::vector<int64_t> dst_heads = {0, 1, 2}, src_heads = {1, 4, 7};
  b.cpu->write_rows_at(dst_c, src_c, {pos_c, 955, 10, 30}, dst_heads, src_heads);
  gpu().write_rows_at(dst_g, src_g, {pos_g, 955, 10, 30}, dst_heads, src_heads);
  EXPECT_EQ(gpu().to_host_f32(dst_g), b.cpu->to_host_f32(dst_c));
  auto host = b.cpu->to_host_f32(dst_c);
  for (int64_t i = 0; i < d; ++i) ASSERT_EQ(host[size_t((25 * 3 + 2) * d + i)], src.values[size_t(7 * d + i)]);
}

// q against [context; tail rows visible up to each token's position], float64.
struct DecodeCase {
  int64_t q_len, context, tail_capacity, tail_held, heads, kv_heads, d;
  bool subset;  // only the query heads of KV heads 1 and 3 (of kv_heads), blocks packed
};

void check_decode(const DecodeCase& c) {
  const uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t group = c.heads / c.kv_heads;
  std::vector<int64_t> kv_used, q_heads;
  for (int64_t h = 0; h < c.kv_heads; ++h)
    if (!c.subset || h == 1 || h == 3) kv_used.push_back(h);
  for (int64_t h : kv_used)
    for (int64_t g = 0; g < group; ++g) q_heads.push_back(h * group + g);
  const int64_t kv = int64_t(kv_used.size());
  auto q = random_bf16(c.q_len * c.heads * c.d, rng, -2.f, 2.f);
  auto ck = random_bf16(c.context * kv * c.d, rng, -2.f, 2.f), cv = random_bf16(c.context * kv * c.d, rng);
  auto tk = random_bf16(c.tail_capacity * kv * c.d, rng, -2.f, 2.f), tv = random_bf16(c.tail_capacity * kv * c.d, rng);
  // Tail rows past what the last token sees are NaN on the device: a kernel that reads them fails.
  const int64_t visible_tail = c.tail_held + c.q_len;
  for (int64_t i = visible_tail * kv * c.d; i < c.tail_capacity * kv * c.d; ++i) tk.bits[size_t(i)] = tv.bits[size_t(i)] = 0x7fc0;
  std::vector<int32_t> positions(size_t(c.q_len));
  for (int64_t t = 0; t < c.q_len; ++t) positions[size_t(t)] = int32_t(c.context + c.tail_held + t);
  Tensor pos = gpu().from_host(DType::I32, {c.q_len}, positions.data());
  std::vector<KeyBlock> blocks;
  if (c.context > 0)
    blocks.push_back({upload_bf16(gpu(), ck, {c.context, kv, c.d}), upload_bf16(gpu(), cv, {c.context, kv, c.d}),
                      AttentionMask::none()});
  blocks.push_back({upload_bf16(gpu(), tk, {c.tail_capacity, kv, c.d}), upload_bf16(gpu(), tv, {c.tail_capacity, kv, c.d}),
                    AttentionMask::causal_at(pos, c.context, c.tail_held)});
  Tensor out = poisoned(gpu(), DType::BF16, {c.q_len, c.heads, c.d});
  Tensor lse = poisoned(gpu(), DType::F32, {c.q_len, c.heads});
  const float scale = float(1.0 / std::sqrt(double(c.d)));
  gpu().attention_blocks(upload_bf16(gpu(), q, {c.q_len, c.heads, c.d}), blocks, c.subset ? q_heads : std::vector<int64_t>(),
                         scale, out, lse);
  EXPECT_EQ(gpu().last_blocks_path(), "flash-decode");
  auto got = gpu().to_host_f32(out), got_lse = gpu().to_host_f32(lse);

  std::vector<double> ref, ref_lse;
  std::vector<float> got_used, got_lse_used;
  for (int64_t t = 0; t < c.q_len; ++t)
    for (size_t hi = 0; hi < q_heads.size(); ++hi) {
      const int64_t h = q_heads[hi], kvh = int64_t(hi) / group;  // packed KV head
      std::vector<double> scores;
      std::vector<const float*> values;
      auto key = [&](const test::HostBf16& k, const test::HostBf16& v, int64_t j) {
        double dot = 0;
        for (int64_t i = 0; i < c.d; ++i)
          dot += double(q.values[size_t((t * c.heads + h) * c.d + i)]) * k.values[size_t((j * kv + kvh) * c.d + i)];
        scores.push_back(dot * scale);
        values.push_back(&v.values[size_t((j * kv + kvh) * c.d)]);
      };
      for (int64_t j = 0; j < c.context; ++j) key(ck, cv, j);
      for (int64_t j = 0; j <= c.tail_held + t; ++j) key(tk, tv, j);
      double max = -INFINITY, sum = 0;
      for (double s : scores) max = std::max(max, s);
      std::vector<double> acc(size_t(c.d), 0.0);
      for (size_t j = 0; j < scores.size(); ++j) {
        const double p = std::exp(scores[j] - max);
        sum += p;
        for (int64_t i = 0; i < c.d; ++i) acc[size_t(i)] += p * values[j][i];
      }
      for (int64_t i = 0; i < c.d; ++i) {
        ref.push_back(acc[size_t(i)] / sum);
        got_used.push_back(got[size_t((t * c.heads + h) * c.d + i)]);
      }
      ref_lse.push_back(max + std::log(sum));
      got_lse_used.push_back(got_lse[size_t(t * c.heads + h)]);
    }
  EXPECT_LT(relative_error(got_used, ref), 1e-2) << "seed " << seed << " q " << c.q_len << " context " << c.context;
  for (size_t r = 0; r < ref_lse.size(); ++r) ASSERT_NEAR(got_lse_used[r], ref_lse[r], 1e-2) << "row " << r;
  if (c.subset) {  // the other heads are untouched (still NaN)
    for (int64_t t = 0; t < c.q_len; ++t)
      for (int64_t h = 0; h < c.heads; ++h)
        if (std::find(q_heads.begin(), q_heads.end(), h) == q_heads.end())
          ASSERT_TRUE(std::isnan(got[size_t((t * c.heads + h) * c.d)])) << "head " << h << " was written";
  }
}

TEST(CudaDecode, FlashDecodingAgreesWithFloat64) {
  check_decode({1, 5000, 80, 17, 32, 8, 128, false});   // decode: context split many ways, tail by position
  check_decode({1, 0, 64, 0, 32, 8, 128, false});       // the first token of a query with no context
  check_decode({4, 3000, 40, 3, 32, 8, 128, false});    // 16 rows: four tokens x group 4
  check_decode({1, 20000, 100, 60, 32, 8, 64, false});  // d 64
  check_decode({2, 7000, 50, 5, 32, 8, 128, true});     // a head subset (duo): packed KV heads 1 and 3
}

// Whole methods on the tiny model, on the GPU: graph replay, op by op and the
// legacy path give the same tokens and nearly the same logits.
ForwardOutputs run_tiny(DecodePath path, const MethodSettings& settings, int64_t context_len) {
  gpu().set_decode_path(path);
  // The tiny preset with head dim 64 (the decode kernels' smallest) and GQA group 2.
  ModelConfig config = preset_config("tiny");
  config.hidden_size = 256;
  config.head_dim = 64;
  Transformer model(config, gpu(), synthetic_weight_specs(config, 11));
  auto comm = make_local_comm(gpu());
  const auto context = testing::random_tokens(5, context_len, config.vocab_size);
  const auto query = testing::random_tokens(6, 5, config.vocab_size);
  auto method = make_method(settings, model, *comm, context_len, int64_t(query.size()) + 12);
  ForwardOutputs outputs = run_forward_pass(*method, model, context, query, 12);
  gpu().set_decode_path(DecodePath::Graph);
  return outputs;
}

TEST(CudaDecode, GraphReplayGivesTheSameTokens) {
  MethodSettings global;
  MethodSettings duo;
  duo.method = Method::Duo;
  duo.duo = testing::duo_test_pattern(std::vector<std::vector<int>>(size_t(preset_config("tiny").num_layers),
                                                                    std::vector<int>{1, 0}),
                                      4, 8);
  for (const MethodSettings& settings : {global, duo}) {
    for (int64_t context : {int64_t(3), int64_t(300)}) {
      const ForwardOutputs legacy = run_tiny(DecodePath::Legacy, settings, context);
      const ForwardOutputs eager = run_tiny(DecodePath::Eager, settings, context);
      const ForwardOutputs graph = run_tiny(DecodePath::Graph, settings, context);
      EXPECT_EQ(graph.generated, eager.generated) << setting_name(settings.method) << " context " << context;
      EXPECT_EQ(graph.generated, legacy.generated) << setting_name(settings.method) << " context " << context;
    }
  }
}

}  // namespace
}  // namespace sb
