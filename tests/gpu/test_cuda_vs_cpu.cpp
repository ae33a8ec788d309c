// The cuda backend against the cpu backend (fp32 reference), op by op, on the
// same random inputs: what a model run on either backend relies on.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/backend_factory.h"
#include "backend/cuda/cuda_backend.h"
#include "gpu_test_util.h"
#include "util/error.h"

namespace sb {
namespace {

using test::fresh_seed;
using test::random_bf16;

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> bd(b.begin(), b.end());
  return test::relative_error(a, bd);
}

struct Pair {
  std::unique_ptr<Backend> cpu = make_backend("cpu", 0);
  std::unique_ptr<Backend> cuda = make_backend("cuda", 0);
  // Same values on both: bf16-exact floats, as F32 on cpu and BF16 on cuda.
  std::pair<Tensor, Tensor> tensor(const test::HostBf16& data, std::vector<int64_t> shape) {
    return {cpu->from_host(DType::F32, shape, data.values.data()), cuda->from_host(DType::BF16, shape, data.bits.data())};
  }
};

TEST(CudaVsCpu, LayerOpsAgree) {
  Pair b;
  ASSERT_EQ(b.cuda->name(), "cuda");
  ASSERT_EQ(b.cpu->name(), "cpu");
  std::mt19937_64 rng(fresh_seed());
  const int64_t vocab = 500, hidden = 256, tokens = 96, heads = 4, kv_heads = 2, d = 64, ffn = 384;

  auto table = random_bf16(vocab * hidden, rng);
  std::vector<int32_t> ids(tokens), positions(tokens);
  for (int64_t t = 0; t < tokens; ++t) ids[size_t(t)] = int32_t(rng() % vocab), positions[size_t(t)] = int32_t(1000 + t);
  auto [table_c, table_g] = b.tensor(table, {vocab, hidden});
  Tensor ids_c = b.cpu->from_host(DType::I32, {tokens}, ids.data());
  Tensor ids_g = b.cuda->from_host(DType::I32, {tokens}, ids.data());
  Tensor x_c = b.cpu->empty(DType::F32, {tokens, hidden}), x_g = b.cuda->empty(DType::BF16, {tokens, hidden});
  b.cpu->embedding(table_c, ids_c, x_c);
  b.cuda->embedding(table_g, ids_g, x_g);
  EXPECT_LT(rel(b.cuda->to_host_f32(x_g), b.cpu->to_host_f32(x_c)), 1e-6) << "embedding";

  auto norm_w = random_bf16(hidden, rng, 0.5f, 1.5f);
  auto [nw_c, nw_g] = b.tensor(norm_w, {hidden});
  Tensor n_c = b.cpu->empty(DType::F32, {tokens, hidden}), n_g = b.cuda->empty(DType::BF16, {tokens, hidden});
  b.cpu->rmsnorm(x_c, nw_c, 1e-5f, n_c);
  b.cuda->rmsnorm(x_g, nw_g, 1e-5f, n_g);
  EXPECT_LT(rel(b.cuda->to_host_f32(n_g), b.cpu->to_host_f32(n_c)), 1e-2) << "rmsnorm";

  auto wq = random_bf16(heads * d * hidden, rng, -0.1f, 0.1f);
  auto wk = random_bf16(kv_heads * d * hidden, rng, -0.1f, 0.1f);
  auto wv = random_bf16(kv_heads * d * hidden, rng, -0.1f, 0.1f);
  auto [wq_c, wq_g] = b.tensor(wq, {heads * d, hidden});
  auto [wk_c, wk_g] = b.tensor(wk, {kv_heads * d, hidden});
  auto [wv_c, wv_g] = b.tensor(wv, {kv_heads * d, hidden});
  Tensor q_c = b.cpu->empty(DType::F32, {tokens, heads * d}), q_g = b.cuda->empty(DType::BF16, {tokens, heads * d});
  Tensor k_c = b.cpu->empty(DType::F32, {tokens, kv_heads * d}), k_g = b.cuda->empty(DType::BF16, {tokens, kv_heads * d});
  Tensor v_c = b.cpu->empty(DType::F32, {tokens, kv_heads * d}), v_g = b.cuda->empty(DType::BF16, {tokens, kv_heads * d});
  b.cpu->matmul(n_c, wq_c, q_c);
  b.cuda->matmul(n_g, wq_g, q_g);
  b.cpu->matmul(n_c, wk_c, k_c);
  b.cuda->matmul(n_g, wk_g, k_g);
  b.cpu->matmul(n_c, wv_c, v_c);
  b.cuda->matmul(n_g, wv_g, v_g);
  EXPECT_LT(rel(b.cuda->to_host_f32(q_g), b.cpu->to_host_f32(q_c)), 1e-2) << "matmul q";

  std::vector<double> inv_freq(d / 2);
  for (int64_t i = 0; i < d / 2; ++i) inv_freq[size_t(i)] = std::pow(500000.0, -2.0 * double(i) / double(d));
  b.cpu->set_rope_frequencies(inv_freq);
  b.cuda->set_rope_frequencies(inv_freq);
  Tensor pos_c = b.cpu->from_host(DType::I32, {tokens}, positions.data());
  Tensor pos_g = b.cuda->from_host(DType::I32, {tokens}, positions.data());
  Tensor q3_c = q_c.reshape({tokens, heads, d}), q3_g = q_g.reshape({tokens, heads, d});
  Tensor k3_c = k_c.reshape({tokens, kv_heads, d}), k3_g = k_g.reshape({tokens, kv_heads, d});
  b.cpu->rope(q3_c, pos_c);
  b.cuda->rope(q3_g, pos_g);
  b.cpu->rope(k3_c, pos_c);
  b.cuda->rope(k3_g, pos_g);
  EXPECT_LT(rel(b.cuda->to_host_f32(q3_g), b.cpu->to_host_f32(q3_c)), 1e-2) << "rope";

  Tensor v3_c = v_c.reshape({tokens, kv_heads, d}), v3_g = v_g.reshape({tokens, kv_heads, d});
  for (auto mask : {AttentionMask::causal(0), AttentionMask::none(), AttentionMask::causal(-10)}) {
    Tensor o_c = b.cpu->empty(DType::F32, {tokens, heads, d}), o_g = b.cuda->empty(DType::BF16, {tokens, heads, d});
    Tensor l_c = b.cpu->empty(DType::F32, {tokens, heads}), l_g = b.cuda->empty(DType::F32, {tokens, heads});
    b.cpu->attention(q3_c, k3_c, v3_c, mask, 0.125f, o_c, l_c);
    b.cuda->attention(q3_g, k3_g, v3_g, mask, 0.125f, o_g, l_g);
    EXPECT_LT(rel(b.cuda->to_host_f32(o_g), b.cpu->to_host_f32(o_c)), 1e-2) << "attention " << mask.causal_offset;
    auto lc = b.cpu->to_host_f32(l_c), lg = b.cuda->to_host_f32(l_g);
    for (size_t i = 0; i < lc.size(); ++i) {
      if (std::isinf(lc[i]))
        EXPECT_EQ(lg[i], lc[i]) << i;
      else
        EXPECT_NEAR(lg[i], lc[i], 2e-2) << i;
    }
  }

  auto wg = random_bf16(ffn * hidden, rng, -0.1f, 0.1f), wu = random_bf16(ffn * hidden, rng, -0.1f, 0.1f);
  auto [wg_c, wg_g] = b.tensor(wg, {ffn, hidden});
  auto [wu_c, wu_g] = b.tensor(wu, {ffn, hidden});
  Tensor g_c = b.cpu->empty(DType::F32, {tokens, ffn}), g_g = b.cuda->empty(DType::BF16, {tokens, ffn});
  Tensor u_c = b.cpu->empty(DType::F32, {tokens, ffn}), u_g = b.cuda->empty(DType::BF16, {tokens, ffn});
  b.cpu->matmul(n_c, wg_c, g_c);
  b.cuda->matmul(n_g, wg_g, g_g);
  b.cpu->matmul(n_c, wu_c, u_c);
  b.cuda->matmul(n_g, wu_g, u_g);
  Tensor s_c = b.cpu->empty(DType::F32, {tokens, ffn}), s_g = b.cuda->empty(DType::BF16, {tokens, ffn});
  b.cpu->swiglu(g_c, u_c, s_c);
  b.cuda->swiglu(g_g, u_g, s_g);
  EXPECT_LT(rel(b.cuda->to_host_f32(s_g), b.cpu->to_host_f32(s_c)), 2e-2) << "swiglu";

  auto logits = random_bf16(3 * 1000, rng, -5.f, 5.f);
  auto [lg_c, lg_g] = b.tensor(logits, {3, 1000});
  EXPECT_EQ(b.cuda->argmax_rows(lg_g), b.cpu->argmax_rows(lg_c)) << "argmax";

  WeightSpec spec;
  spec.name = "synthetic";
  spec.shape = {64, 33};
  spec.seed = fresh_seed();
  spec.scale = 0.1f;
  auto syn_c = b.cpu->to_host_f32(b.cpu->upload(spec));
  auto syn_g = b.cuda->to_host_f32(b.cuda->upload(spec));
  for (size_t i = 0; i < syn_c.size(); ++i) ASSERT_EQ(syn_g[i], bf16_to_f32(f32_to_bf16(syn_c[i]))) << i;
}

// copy_heads (cudaMemcpy2DAsync) moves the same bits as the cpu backend's
// loop: packing heads out of [T, H, d] and back, at row and head offsets.
TEST(CudaVsCpu, CopyHeadsAgreesBitForBit) {
  Pair b;
  std::mt19937_64 rng(fresh_seed());
  auto src = random_bf16(7 * 8 * 32, rng), dst = random_bf16(9 * 3 * 32, rng);
  auto [src_c, src_g] = b.tensor(src, {7, 8, 32});
  auto [dst_c, dst_g] = b.tensor(dst, {9, 3, 32});
  b.cpu->copy_heads(dst_c, 4, 0, src_c, 1, 2, 5, 3);
  b.cuda->copy_heads(dst_g, 4, 0, src_g, 1, 2, 5, 3);
  EXPECT_EQ(b.cuda->to_host_f32(dst_g), b.cpu->to_host_f32(dst_c));
  b.cpu->copy_heads(src_c, 0, 5, dst_c, 2, 1, 7, 2);  // back into a wide tensor
  b.cuda->copy_heads(src_g, 0, 5, dst_g, 2, 1, 7, 2);
  EXPECT_EQ(b.cuda->to_host_f32(src_g), b.cpu->to_host_f32(src_c));
  EXPECT_THROW(b.cuda->copy_heads(dst_g, 0, 1, src_g, 0, 0, 1, 3), Error);  // heads 1..3 of 3
}

// The streaming (Λ) mask on both backends, the shapes DuoAttention's heads run.
TEST(CudaVsCpu, StreamingMaskAttentionAgrees) {
  Pair b;
  std::mt19937_64 rng(fresh_seed());
  const int64_t tokens = 700, heads = 8, kv_heads = 2, d = 128;
  auto q = random_bf16(tokens * heads * d, rng, -2.f, 2.f), k = random_bf16(tokens * kv_heads * d, rng, -2.f, 2.f);
  auto v = random_bf16(tokens * kv_heads * d, rng);
  auto [q_c, q_g] = b.tensor(q, {tokens, heads, d});
  auto [k_c, k_g] = b.tensor(k, {tokens, kv_heads, d});
  auto [v_c, v_g] = b.tensor(v, {tokens, kv_heads, d});
  for (auto [rows, mask] : {std::pair<int64_t, AttentionMask>{tokens, AttentionMask::streaming(0, 128, 256)},
                            {1, AttentionMask::streaming(tokens - 1, 128, 256)},
                            {40, AttentionMask::streaming(tokens - 40, 7, 33)}}) {
    Tensor qc = q_c.rows(tokens - rows, tokens), qg = q_g.rows(tokens - rows, tokens);
    Tensor o_c = b.cpu->empty(DType::F32, {rows, heads, d}), o_g = b.cuda->empty(DType::BF16, {rows, heads, d});
    Tensor l_c = b.cpu->empty(DType::F32, {rows, heads}), l_g = b.cuda->empty(DType::F32, {rows, heads});
    b.cpu->attention(qc, k_c, v_c, mask, 0.088f, o_c, l_c);
    b.cuda->attention(qg, k_g, v_g, mask, 0.088f, o_g, l_g);
    EXPECT_LT(rel(b.cuda->to_host_f32(o_g), b.cpu->to_host_f32(o_c)), 1e-2) << "rows " << rows;
    EXPECT_LT(rel(b.cuda->to_host_f32(l_g), b.cpu->to_host_f32(l_c)), 1e-3) << "rows " << rows;
  }
}

}  // namespace
}  // namespace sb
