#pragma once
// The CUDA libraries this process runs on, for every run record and its
// identity (a cuDNN or NCCL upgrade can change times and rounding).
#include <string>

namespace sb {

// "cuda_runtime=12.4;cudnn=9.1.0;nccl=2.21.5": cudaRuntimeGetVersion,
// cudnnGetVersion and ncclGetVersion of the libraries loaded (not the headers).
std::string cuda_library_versions();

}  // namespace sb
