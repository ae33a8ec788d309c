// Attention forward benchmark: causal bf16 prefill (cuDNN fused attention and
// our flash kernel) and single-token decode (split-KV) at Llama-3 8B head
// shapes. Usage: bench_attention [seq_lens=16384,32768,65536,131072] [csv]
#include <cmath>
#include <cstdio>
#include <string>

#include "bench_common.h"
#include "util/error.h"

using namespace sb;

int main(int argc, char** argv) {
  try {
    const bool decode_only = argc > 1 && std::string(argv[1]) == "decode";
    std::vector<int64_t> seqs =
        bench::parse_list(argc > 1 && !decode_only ? argv[1] : "16384,32768,65536,131072");
    FILE* csv = argc > 2 ? std::fopen(argv[2], "w") : nullptr;
    const int64_t heads = 32, kv_heads = 8, d = 128;
    CudaBackend backend(0);
    const double peak = bench::peak_tflops(backend.device_name());
    std::printf("device: %s, peak bf16 %.0f TFLOP/s; q %lld / kv %lld heads, d %lld\n", backend.device_name().c_str(),
                peak, (long long)heads, (long long)kv_heads, (long long)d);
    if (csv) std::fprintf(csv, "kind,path,q_len,k_len,ms,tflops,gbps\n");
    std::printf("| kind | path | q_len | k_len | ms | TFLOP/s | of peak | GB/s |\n|---|---|---|---|---|---|---|---|\n");
    const float scale = float(1.0 / std::sqrt(double(d)));
    // Decode at short contexts too (latency, not bandwidth, decides there).
    for (int64_t s : {int64_t(1024), int64_t(4096), int64_t(8192), int64_t(16384), int64_t(32768), int64_t(65536),
                      int64_t(131072)}) {
      if (!decode_only && s > 8192) break;
      Tensor k = bench::random_device(backend, {s, kv_heads, d}, 5 + s, 2.f);
      Tensor v = bench::random_device(backend, {s, kv_heads, d}, 6 + s);
      Tensor q1 = bench::random_device(backend, {1, heads, d}, 4 + s, 2.f);
      Tensor out1 = backend.empty(DType::BF16, {1, heads, d});
      Tensor lse1 = backend.empty(DType::F32, {1, heads});
      double single = bench::median_ms(backend, 3, 20, [&] {
        backend.attention(q1, k, v, AttentionMask::none(), scale, out1, lse1);
      });
      double loop = bench::median_ms(backend, 1, 5, [&] {
        for (int i = 0; i < 50; ++i) backend.attention(q1, k, v, AttentionMask::none(), scale, out1, lse1);
      }) / 50.0;
      std::printf("| decode 1 token (single / x50) | %s | 1 | %lld | %.4f / %.4f | | | |\n",
                  backend.last_attention_path().c_str(), (long long)s, single, loop);
    }
    if (decode_only) return 0;
    for (int64_t s : seqs) {
      Tensor q = bench::random_device(backend, {s, heads, d}, 1 + s, 2.f);
      Tensor k = bench::random_device(backend, {s, kv_heads, d}, 2 + s, 2.f);
      Tensor v = bench::random_device(backend, {s, kv_heads, d}, 3 + s);
      Tensor out = backend.empty(DType::BF16, {s, heads, d});
      Tensor lse = backend.empty(DType::F32, {s, heads});
      const double flops = 4.0 * double(s) * double(s) * double(d) * double(heads) / 2.0;  // causal
      for (auto [path, name] : {std::pair{AttentionPath::Cudnn, "cudnn"}, {AttentionPath::Flash, "flash"}}) {
        if (path == AttentionPath::Cudnn && !backend.cudnn_available()) continue;
        backend.set_attention_path(path);
        int repeats = s >= 65536 ? 5 : 10;
        double ms = -1;
        try {
          ms = bench::median_ms(backend, 2, repeats, [&] {
            backend.attention(q, k, v, AttentionMask::causal(0), scale, out, lse);
          });
        } catch (const Error& e) {
          std::printf("| prefill causal | %s | %lld | %lld | failed: %s |\n", name, (long long)s, (long long)s, e.what());
          continue;
        }
        double tflops = flops / (ms * 1e-3) / 1e12;
        std::printf("| prefill causal | %s | %lld | %lld | %.3f | %.1f | %.2f | |\n", name, (long long)s, (long long)s, ms,
                    tflops, peak > 0 ? tflops / peak : 0.0);
        if (path == AttentionPath::Cudnn) std::printf("(%s)\n", backend.cudnn_description().c_str());
        if (csv) std::fprintf(csv, "prefill_causal,%s,%lld,%lld,%.5f,%.2f,\n", name, (long long)s, (long long)s, ms, tflops);
      }
      // Decode: one query token against the whole KV (split-KV path), memory bound.
      backend.set_attention_path(AttentionPath::Auto);
      Tensor q1 = q.rows(0, 1), out1 = out.rows(0, 1), lse1 = lse.rows(0, 1);
      double ms = bench::median_ms(backend, 3, 20, [&] {
        backend.attention(q1, k, v, AttentionMask::none(), scale, out1, lse1);
      });
      double gbps = 2.0 * double(s) * double(kv_heads) * double(d) * 2.0 / (ms * 1e-3) / 1e9;
      std::printf("| decode 1 token | %s | 1 | %lld | %.4f | | | %.0f |\n", backend.last_attention_path().c_str(),
                  (long long)s, ms, gbps);
      // Back to back, as in a model's layer loop: launch latency hidden behind the previous call.
      double loop_ms = bench::median_ms(backend, 1, 5, [&] {
        for (int i = 0; i < 50; ++i) backend.attention(q1, k, v, AttentionMask::none(), scale, out1, lse1);
      }) / 50.0;
      std::printf("| decode 1 token x50 | %s | 1 | %lld | %.4f | | | %.0f |\n", backend.last_attention_path().c_str(),
                  (long long)s, loop_ms, gbps * ms / loop_ms);
      if (csv) std::fprintf(csv, "decode,%s,1,%lld,%.5f,,%.1f\n", backend.last_attention_path().c_str(), (long long)s, ms, gbps);
      std::fflush(stdout);
    }
    // Path choice for short query blocks against a long KV (chunked prefill,
    // star/ring query phases): cuDNN vs our kernel (split-KV when it helps).
    const int64_t keys = 32768;
    Tensor k = bench::random_device(backend, {keys, kv_heads, d}, 91, 2.f);
    Tensor v = bench::random_device(backend, {keys, kv_heads, d}, 92);
    for (int64_t q_len : {int64_t(1), int64_t(16), int64_t(64), int64_t(128), int64_t(256), int64_t(512),
                          int64_t(1024), int64_t(4096)}) {
      Tensor q = bench::random_device(backend, {q_len, heads, d}, 93 + q_len, 2.f);
      Tensor out = backend.empty(DType::BF16, {q_len, heads, d});
      Tensor lse = backend.empty(DType::F32, {q_len, heads});
      // Bottom-right causal: query i sees keys_ - q_len + i + 1 keys.
      const double flops = 4.0 * double(d) * double(heads) * (double(q_len) * double(keys - q_len) +
                                                             double(q_len) * double(q_len + 1) / 2.0);
      for (auto [path, name] : {std::pair{AttentionPath::Cudnn, "cudnn"}, {AttentionPath::Flash, "flash"}}) {
        if (path == AttentionPath::Cudnn && !backend.cudnn_available()) continue;
        backend.set_attention_path(path);
        double ms = bench::median_ms(backend, 3, 20, [&] {
          backend.attention(q, k, v, AttentionMask::bottom_right(q_len, keys), scale, out, lse);
        });
        std::printf("| chunk bottom-right | %s | %lld | %lld | %.4f | %.1f | | |\n", backend.last_attention_path().c_str(),
                    (long long)q_len, (long long)keys, ms, flops / (ms * 1e-3) / 1e12);
        if (csv) std::fprintf(csv, "chunk,%s,%lld,%lld,%.5f,%.2f,\n", backend.last_attention_path().c_str(),
                              (long long)q_len, (long long)keys, ms, flops / (ms * 1e-3) / 1e12);
      }
    }
    // Unmasked square blocks (ring's off-diagonal blocks, star's anchor).
    for (int64_t s : {int64_t(4096), int64_t(16384)}) {
      Tensor q = bench::random_device(backend, {s, heads, d}, 7 + s, 2.f);
      Tensor kk = bench::random_device(backend, {s, kv_heads, d}, 8 + s, 2.f);
      Tensor vv = bench::random_device(backend, {s, kv_heads, d}, 9 + s);
      Tensor out = backend.empty(DType::BF16, {s, heads, d});
      Tensor lse = backend.empty(DType::F32, {s, heads});
      const double flops = 4.0 * double(s) * double(s) * double(d) * double(heads);
      for (auto [path, name] : {std::pair{AttentionPath::Cudnn, "cudnn"}, {AttentionPath::Flash, "flash"}}) {
        if (path == AttentionPath::Cudnn && !backend.cudnn_available()) continue;
        backend.set_attention_path(path);
        double ms = bench::median_ms(backend, 2, 10, [&] {
          backend.attention(q, kk, vv, AttentionMask::none(), scale, out, lse);
        });
        std::printf("| no mask | %s | %lld | %lld | %.3f | %.1f | %.2f | |\n", name, (long long)s, (long long)s, ms,
                    flops / (ms * 1e-3) / 1e12, peak > 0 ? flops / (ms * 1e-3) / 1e12 / peak : 0.0);
        if (csv) std::fprintf(csv, "none,%s,%lld,%lld,%.5f,%.2f,\n", name, (long long)s, (long long)s, ms,
                              flops / (ms * 1e-3) / 1e12);
      }
    }
    if (csv) std::fclose(csv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention: %s\n", e.what());
    return 1;
  }
  return 0;
}
