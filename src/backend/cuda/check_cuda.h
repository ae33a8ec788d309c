#pragma once
// One check macro per GPU library. Each names the failing call, file:line and
// the MPI rank, and throws sb::Error: a failed GPU call is never ignored, and
// the CLI turns the throw into one clear message on every rank.
#include <cuda_runtime_api.h>

#include "util/error.h"

#define CUDA_CHECK(call)                                                                         \
  do {                                                                                           \
    cudaError_t cuda_status_ = (call);                                                           \
    if (cuda_status_ != cudaSuccess)                                                             \
      ::sb::fail("rank {}: {} failed at {}:{}: {} ({})", ::sb::current_rank(), #call, __FILE__, \
                 __LINE__, cudaGetErrorString(cuda_status_), cudaGetErrorName(cuda_status_));   \
  } while (0)

// After every kernel launch: a bad launch configuration shows up here, not
// at some later unrelated call.
#define CUDA_CHECK_LAUNCH(kernel_name)                                                           \
  do {                                                                                           \
    cudaError_t cuda_status_ = cudaGetLastError();                                               \
    if (cuda_status_ != cudaSuccess)                                                             \
      ::sb::fail("rank {}: launch of {} failed at {}:{}: {}", ::sb::current_rank(), kernel_name, \
                 __FILE__, __LINE__, cudaGetErrorString(cuda_status_));                          \
  } while (0)

#if __has_include(<cublasLt.h>)
#include <cublasLt.h>
#define CUBLAS_CHECK(call)                                                                       \
  do {                                                                                           \
    cublasStatus_t cublas_status_ = (call);                                                      \
    if (cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                 \
      ::sb::fail("rank {}: {} failed at {}:{}: {} ({})", ::sb::current_rank(), #call, __FILE__, \
                 __LINE__, cublasGetStatusString(cublas_status_), int(cublas_status_));          \
  } while (0)
#endif

#if __has_include(<cudnn_graph.h>)
#include <cudnn_graph.h>
#define CUDNN_CHECK(call)                                                                        \
  do {                                                                                           \
    cudnnStatus_t cudnn_status_ = (call);                                                        \
    if (cudnn_status_ != CUDNN_STATUS_SUCCESS) {                                                 \
      char cudnn_text_[512] = {0};                                                               \
      cudnnGetLastErrorString(cudnn_text_, sizeof cudnn_text_);                                  \
      ::sb::fail("rank {}: {} failed at {}:{}: {} {}", ::sb::current_rank(), #call, __FILE__,   \
                 __LINE__, cudnnGetErrorString(cudnn_status_), cudnn_text_);                     \
    }                                                                                            \
  } while (0)
#endif

#if __has_include(<nccl.h>)
#include <nccl.h>
#define NCCL_CHECK(call)                                                                         \
  do {                                                                                           \
    ncclResult_t nccl_status_ = (call);                                                          \
    if (nccl_status_ != ncclSuccess)                                                             \
      ::sb::fail("rank {}: {} failed at {}:{}: {} {}", ::sb::current_rank(), #call, __FILE__,   \
                 __LINE__, ncclGetErrorString(nccl_status_), ncclGetLastError(nullptr));         \
  } while (0)
#endif
