// Backend selection by name. This file is the starbench_factory library's, above
// both backends (starbench_backend: the interface and the cpu backend;
// starbench_cuda: the cuda backend, which builds on starbench_backend), so the
// libraries depend one way; CMakeLists.txt defines STARBENCH_WITH_CUDA for it
// when the cuda backend is built.
#include "backend/backend_factory.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "util/error.h"

#ifdef STARBENCH_WITH_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace sb {

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
