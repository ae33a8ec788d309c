// What a run's identity and checksums cost (docs/HDF5_SCHEMA.md, "Run identity",
// "Integrity"): `bench_file_digest FILE` times the whole-file SHA-256 and the
// sampled digest of FILE (a large weight file), then SHA-256 over a global run's
// reference logits (64 x 128256 float32, 33 MB) in memory. Not a test.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "util/file_digest.h"
#include "util/sha256.h"

namespace {

template <typename F>
double seconds_of(F&& call) {
  const auto start = std::chrono::steady_clock::now();
  call();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2) {
    const std::string path = argv[1];
    sb::SampledDigest sampled;
    const double sampled_s = seconds_of([&] { sampled = sb::sampled_file_sha256(path); });
    std::string whole;
    const double whole_s = seconds_of([&] { whole = sb::file_sha256(path); });
    const double gb = double(sampled.size) / 1e9;
    std::printf("%s: %.2f GB\n  whole file: %.2f s (%.0f MB/s)\n  sampled (%s): %.3f s\n", path.c_str(), gb,
                whole_s, gb * 1e3 / whole_s, sampled.sampled ? "64 x 1 MiB" : "small file: whole", sampled_s);
  }
  std::vector<float> logits(size_t(64) * 128256, 0.25f);
  const double hash_s = seconds_of([&] { sb::Sha256().update(logits.data(), logits.size() * 4).finish(); });
  std::printf("reference logits 64 x 128256 float32 (%.1f MB): SHA-256 in %.1f ms (%.0f MB/s)\n",
              double(logits.size() * 4) / 1e6, hash_s * 1e3, double(logits.size() * 4) / 1e6 / hash_s);
  return 0;
}
