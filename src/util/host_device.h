#pragma once
// SB_HOST_DEVICE marks a function that host C++ and CUDA kernels both call:
// __host__ __device__ under nvcc, nothing for the host compiler.
#if defined(__CUDACC__)
#define SB_HOST_DEVICE __host__ __device__
#else
#define SB_HOST_DEVICE
#endif
