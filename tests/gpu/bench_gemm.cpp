// cuBLASLt bf16 GEMM benchmark through CudaBackend::matmul (out = x * w^T):
// the square 8192^3 reference and Llama-3.1-8B's projections at 8K tokens.
// Usage: bench_gemm [csv]
#include <cstdio>

#include "bench_common.h"

using namespace sb;

int main(int argc, char** argv) {
  try {
    FILE* csv = argc > 1 ? std::fopen(argv[1], "w") : nullptr;
    CudaBackend backend(0);
    const double peak = bench::peak_tflops(backend.device_name());
    struct Shape {
      const char* name;
      int64_t t, n, k;
    };
    const Shape shapes[] = {{"square 8192", 8192, 8192, 8192}, {"qkv 8B", 8192, 6144, 4096},
                            {"o 8B", 8192, 4096, 4096},         {"gate+up 8B", 8192, 28672, 4096},
                            {"down 8B", 8192, 4096, 14336},     {"lm_head 1 tok", 1, 128256, 4096},
                            {"decode qkv", 1, 6144, 4096},      {"decode o", 1, 4096, 4096},
                            {"decode gate", 1, 14336, 4096},    {"decode down", 1, 4096, 14336},
                            {"query 16 gate", 16, 14336, 4096}};
    std::printf("device: %s, peak bf16 %.0f TFLOP/s\n", backend.device_name().c_str(), peak);
    std::printf("| gemm | T | N | K | ms | TFLOP/s | of peak | weights GB/s |\n|---|---|---|---|---|---|---|---|\n");
    if (csv) std::fprintf(csv, "name,t,n,k,ms,tflops\n");
    uint64_t seed = 11;
    for (const Shape& s : shapes) {
      Tensor x = bench::random_device(backend, {s.t, s.k}, ++seed);
      Tensor w = bench::random_device(backend, {s.n, s.k}, ++seed, 0.05f);
      Tensor out = backend.empty(DType::BF16, {s.t, s.n});
      double ms = bench::median_ms(backend, 3, 20, [&] { backend.matmul(x, w, out); });
      double tflops = 2.0 * double(s.t) * double(s.n) * double(s.k) / (ms * 1e-3) / 1e12;
      double weight_gbps = double(s.n) * double(s.k) * 2.0 / (ms * 1e-3) / 1e9;
      std::printf("| %s | %lld | %lld | %lld | %.4f | %.1f | %.2f | %.0f |\n", s.name, (long long)s.t, (long long)s.n,
                  (long long)s.k, ms, tflops, peak > 0 ? tflops / peak : 0.0, weight_gbps);
      if (csv) std::fprintf(csv, "%s,%lld,%lld,%lld,%.5f,%.2f\n", s.name, (long long)s.t, (long long)s.n, (long long)s.k, ms, tflops);
    }
    if (csv) std::fclose(csv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gemm: %s\n", e.what());
    return 1;
  }
  return 0;
}
