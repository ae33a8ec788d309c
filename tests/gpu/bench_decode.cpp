// Where a decoding step's time goes (Llama-3-8B shape, one token): each
// per-layer op timed alone, back to back x32 as in a step, on the legacy path
// (cuBLASLt GEMMs, the prefill flash kernel's split-KV, unfused ops) and on
// the decode path (GEMV with fused norm / SwiGLU / residual, flash-decoding),
// with the bytes each must move and the rate it reached.
//   bench_decode [context lengths, default 32768,131072,262144]
#include <cstdio>

#include "bench_common.h"

using namespace sb;

int main(int argc, char** argv) {
  const std::vector<int64_t> contexts = bench::parse_list(argc > 1 ? argv[1] : "32768,131072,262144");
  CudaBackend backend(0);
  const int64_t hidden = 4096, heads = 32, kv_heads = 8, d = 128, ffn = 14336, vocab = 128256, layers = 32;
  Tensor x = bench::random_device(backend, {1, hidden}, 1);
  Tensor norm = bench::random_device(backend, {hidden}, 2, 0.5f);
  Tensor wq = bench::random_device(backend, {heads * d, hidden}, 3, 0.02f);
  Tensor wk = bench::random_device(backend, {kv_heads * d, hidden}, 4, 0.02f);
  Tensor wv = bench::random_device(backend, {kv_heads * d, hidden}, 5, 0.02f);
  Tensor wo = bench::random_device(backend, {hidden, heads * d}, 6, 0.02f);
  Tensor wg = bench::random_device(backend, {ffn, hidden}, 7, 0.02f);
  Tensor wu = bench::random_device(backend, {ffn, hidden}, 8, 0.02f);
  Tensor wd = bench::random_device(backend, {hidden, ffn}, 9, 0.02f);
  Tensor head = bench::random_device(backend, {vocab, hidden}, 10, 0.02f);
  Tensor q = backend.empty(DType::BF16, {1, heads * d}), k = backend.empty(DType::BF16, {1, kv_heads * d});
  Tensor v = backend.empty(DType::BF16, {1, kv_heads * d}), gate = backend.empty(DType::BF16, {1, ffn});
  Tensor up = backend.empty(DType::BF16, {1, ffn}), logits = backend.empty(DType::BF16, {1, vocab});
  Tensor normed = backend.empty(DType::BF16, {1, hidden});
  std::printf("| op (x32 unless noted) | bytes | legacy ms | decode path ms | legacy GB/s | decode GB/s |\n|---|---|---|---|---|---|\n");
  auto row = [&](const char* name, double bytes, double reps, const std::function<void()>& legacy,
                 const std::function<void()>& fused) {
    backend.set_decode_path(DecodePath::Legacy);
    const double a = bench::median_ms(backend, 3, 11, [&] { for (int i = 0; i < int(reps); ++i) legacy(); });
    backend.set_decode_path(DecodePath::Graph);
    const double b = bench::median_ms(backend, 3, 11, [&] { for (int i = 0; i < int(reps); ++i) fused(); });
    std::printf("| %s | %.3g | %.3f | %.3f | %.0f | %.0f |\n", name, bytes * reps, a, b, bytes * reps / a / 1e6,
                bytes * reps / b / 1e6);
  };
  const double e = 2.0;
  row("norm + q, k, v", e * (heads + 2 * kv_heads) * d * hidden, layers,
      [&] {
        backend.rmsnorm(x, norm, 1e-5f, normed);
        backend.matmul(normed, wq, q);
        backend.matmul(normed, wk, k);
        backend.matmul(normed, wv, v);
      },
      [&] { backend.rmsnorm_matmul(x, norm, 1e-5f, {&wq, &wk, &wv}, {&q, &k, &v}); });
  row("o_proj (+ residual)", e * hidden * heads * d, layers, [&] { backend.matmul(q, wo, x, true); },
      [&] { backend.matmul(q, wo, x, true); });
  row("norm + gate, up, swiglu", e * 2 * ffn * hidden, layers,
      [&] {
        backend.rmsnorm(x, norm, 1e-5f, normed);
        backend.matmul(normed, wg, gate);
        backend.matmul(normed, wu, up);
        backend.swiglu(gate, up, gate);
      },
      [&] { backend.rmsnorm_swiglu(x, norm, 1e-5f, wg, wu, gate); });
  row("down (+ residual)", e * hidden * ffn, layers, [&] { backend.matmul(gate, wd, x, true); },
      [&] { backend.matmul(gate, wd, x, true); });
  row("lm_head (x1)", e * vocab * hidden, 1, [&] { backend.matmul(normed, head, logits); },
      [&] { backend.matmul(normed, head, logits); });
  Tensor q3 = q.reshape({1, heads, d}), out = backend.empty(DType::BF16, {1, heads, d});
  Tensor lse = backend.empty(DType::F32, {1, heads});
  for (int64_t context : contexts) {
    Tensor kc = bench::random_device(backend, {context, kv_heads, d}, 20 + uint64_t(context));
    Tensor vc = bench::random_device(backend, {context, kv_heads, d}, 21 + uint64_t(context));
    char name[96];
    std::snprintf(name, sizeof name, "attention, %lld keys", (long long)context);
    // One layer's KV at a time, x32 over the same buffers: 134 MB+ per call, past the 60 MB L2.
    row(name, e * 2 * double(context) * kv_heads * d, layers,
        [&] { backend.attention(q3, kc, vc, AttentionMask::none(), 0.088f, out, lse); },
        [&] { backend.attention_blocks(q3, {{kc, vc, AttentionMask::none()}}, {}, 0.088f, out, lse); });
  }
  return 0;
}
