// Backend selection by name. The cuda backend lives in starbench_cuda, which
// itself links starbench_backend; CMakeLists.txt closes that cycle (a pair of
// mutually dependent static libraries, which CMake repeats on the link line)
// and defines STARBENCH_WITH_CUDA for this file when the cuda backend is built.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "util/error.h"

#ifdef STARBENCH_WITH_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace sb {

double AttentionMask::visible_pairs(int64_t q_len, int64_t k_len) const {
  if (q_len <= 0 || k_len <= 0) return 0.0;
  if (kind == Kind::None) return double(q_len) * double(k_len);
  if (kind == Kind::Streaming) {
    // Causal, less the keys between the sink and each row's window: key j >=
    // sink with j <= i + offset - window, a causal count over keys [sink, k_len).
    const int64_t after_sink = std::max<int64_t>(0, k_len - std::max<int64_t>(sink, 0));
    return causal(causal_offset).visible_pairs(q_len, k_len) -
           causal(causal_offset - window - std::max<int64_t>(sink, 0)).visible_pairs(q_len, after_sink);
  }
  // Row i sees clamp(i + offset + 1, 0, k_len) keys: zero, then a ramp, then all.
  const int64_t shift = causal_offset + 1;
  const int64_t ramp_begin = std::clamp<int64_t>(1 - shift, 0, q_len);     // first row seeing a key
  const int64_t full_begin = std::clamp<int64_t>(k_len - shift, ramp_begin, q_len);  // first row seeing all
  const double ramp_rows = double(full_begin - ramp_begin);
  const double ramp = ramp_rows * double(shift) + (double(ramp_begin) + double(full_begin - 1)) * ramp_rows / 2.0;
  return ramp + double(q_len - full_begin) * double(k_len);
}


bool cuda_backend_available() {
#ifdef STARBENCH_WITH_CUDA
  return cuda_device_present();
#else
  return false;
#endif
}

namespace {
std::map<std::string, BackendFactory>& registered_backends() {
  static std::map<std::string, BackendFactory> factories;
  return factories;
}
}  // namespace

void register_backend(const std::string& name, BackendFactory factory) {
  if (factory) {
    registered_backends()[name] = std::move(factory);
  } else {
    registered_backends().erase(name);
  }
}

int visible_gpu_count() {
  if (const char* fake = std::getenv("STARBENCH_FAKE_GPUS")) return std::atoi(fake);
#ifdef STARBENCH_WITH_CUDA
  return cuda_device_count();
#else
  return 0;
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, int local_rank) {
  if (auto found = registered_backends().find(name); found != registered_backends().end()) {
    return found->second(local_rank);
  }
  SB_REQUIRE(name != "sim", "backend 'sim' runs only inside `starbench simulate`");
  if (name == "cpu") return std::make_unique<CpuBackend>();
  if (name == "cuda" || name == "auto") {
#ifdef STARBENCH_WITH_CUDA
    const bool gpu = cuda_device_present();
    SB_REQUIRE(gpu || name == "auto", "backend 'cuda' requested, but no CUDA GPU is visible to this process");
    if (gpu) return make_cuda_backend(local_rank);
#else
    (void)local_rank;
    SB_REQUIRE(name == "auto",
               "backend 'cuda' requested, but this starbench was built without CUDA "
               "(configure with -DSTARBENCH_CUDA=ON on a machine with nvcc, or use --backend cpu)");
#endif
    return std::make_unique<CpuBackend>();  // auto without a GPU
  }
  fail("unknown backend '{}': valid backends are cpu, cuda, auto", name);
}

}  // namespace sb
