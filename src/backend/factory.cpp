// Backend selection by name. The cuda backend lives in starbench_cuda, which
// itself links starbench_backend; CMakeLists.txt closes that cycle (a pair of
// mutually dependent static libraries, which CMake repeats on the link line)
// and defines STARBENCH_WITH_CUDA for this file when the cuda backend is built.
#include <cstdlib>
#include <memory>
#include <string>

#include "backend/backend.h"
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

int visible_gpu_count() {
  if (const char* fake = std::getenv("STARBENCH_FAKE_GPUS")) return std::atoi(fake);
#ifdef STARBENCH_WITH_CUDA
  return cuda_device_count();
#else
  return 0;
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& name, int local_rank) {
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
