// CudnnAttention in a build without cuDNN (CMakeLists.txt compiles this file
// instead of cudnn_attention.cpp when configure finds no cuDNN, or with
// -DSTARBENCH_CUDNN=OFF). It never starts: the cuda backend catches the error
// and runs its own flash kernel for every attention, and STARBENCH_ATTENTION=cudnn
// is refused with this message.
#include "backend/cuda/cudnn_attention.h"

#include "util/error.h"

namespace sb {

struct CudnnAttention::Plan {};

std::string CudnnAttention::version_string() { return "none (built without cuDNN)"; }

CudnnAttention::CudnnAttention(cudaStream_t stream, Allocate allocate) : stream_(stream), allocate_(std::move(allocate)) {
  fail("this starbench was built without cuDNN (configure found no cudnn.h / libcudnn: point CUDNN_HOME, CUDNN_ROOT "
       "or CUDNN_PATH at a cuDNN install and reconfigure)");
}

CudnnAttention::~CudnnAttention() = default;

bool CudnnAttention::run(const CudnnAttentionProblem&) { return false; }

}  // namespace sb
