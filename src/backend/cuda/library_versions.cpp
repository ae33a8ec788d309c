#include "backend/cuda/library_versions.h"

#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <nccl.h>

#include <fmt/format.h>

namespace sb {

std::string cuda_library_versions() {
  int runtime = 0, nccl = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
  if (ncclGetVersion(&nccl) != ncclSuccess) nccl = 0;
  const size_t cudnn = cudnnGetVersion();
  // CUDA: 1000 major + 10 minor; cuDNN 9: 10000 major + 100 minor + patch (8: 1000 major);
  // NCCL >= 2.9: 10000 major + 100 minor + patch.
  const size_t cudnn_major = cudnn >= 90000 ? cudnn / 10000 : cudnn / 1000;
  const size_t cudnn_rest = cudnn >= 90000 ? cudnn % 10000 : cudnn % 1000;
  return fmt::format("cuda_runtime={}.{};cudnn={}.{}.{};nccl={}.{}.{}", runtime / 1000, (runtime % 1000) / 10,
                     cudnn_major, cudnn_rest / 100, cudnn_rest % 100, nccl / 10000, (nccl % 10000) / 100,
                     nccl % 100);
}

}  // namespace sb
