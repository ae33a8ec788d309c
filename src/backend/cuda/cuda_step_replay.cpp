// Decoding steps as CUDA graphs. The first run of a key captures the step's
// launches (stream capture) and keeps every tensor the step allocated, so
// the graph's buffers stay its own; later runs launch the graph, then run the
// step's host code with launches off: host state (cache lengths, counters)
// advances as it always does, empty() hands back the captured tensors in
// order, and every launch's signature is compared with the capture's.
#include <cuda_runtime_api.h>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/cuda_backend.h"

namespace sb {

struct CudaStepRecording {
  std::vector<uint64_t> signatures;
  std::vector<const char*> names;
  std::vector<Tensor> tensors;  // allocated by the step, in order
  size_t next_signature = 0, next_tensor = 0;
  cudaGraphExec_t exec = nullptr;

  void clear() {
    if (exec) cudaGraphExecDestroy(exec);  // in-flight launches finish first (freed on completion)
    exec = nullptr;
    signatures.clear();
    names.clear();
    tensors.clear();
  }
  ~CudaStepRecording() { clear(); }
};

namespace {

class CudaStepReplay : public StepReplay {
 public:
  explicit CudaStepReplay(CudaBackend& backend) : backend_(backend) {}

  void run(uint64_t key, const std::function<void()>& step) override {
    if (!captured_ || key != key_) {
      recording_.clear();
      captured_ = false;
      backend_.begin_capture(recording_);
      try {
        step();
      } catch (...) {
        backend_.end_capture(recording_, /*failed=*/true);
        throw;
      }
      backend_.end_capture(recording_, false);
      captured_ = true;
      key_ = key;
      ++captures_;
      CUDA_CHECK(cudaGraphLaunch(recording_.exec, backend_.stream()));
      return;
    }
    // Launch first: the host code below then overlaps the graph's run.
    CUDA_CHECK(cudaGraphLaunch(recording_.exec, backend_.stream()));
    backend_.begin_dry_run(recording_);
    try {
      step();
    } catch (...) {
      backend_.end_dry_run(recording_, /*failed=*/true);
      throw;
    }
    backend_.end_dry_run(recording_, false);
    ++replays_;
  }
  int64_t captures() const override { return captures_; }
  int64_t replays() const override { return replays_; }

 private:
  CudaBackend& backend_;
  CudaStepRecording recording_;
  bool captured_ = false;
  uint64_t key_ = 0;
  int64_t captures_ = 0, replays_ = 0;
};

}  // namespace

std::unique_ptr<StepReplay> CudaBackend::make_step_replay() {
  if (decode_path_ == DecodePath::Legacy) return nullptr;
  if (decode_path_ == DecodePath::Eager) return std::make_unique<StepReplay>();
  return std::make_unique<CudaStepReplay>(*this);
}

bool CudaBackend::step_gate(const char* what, uint64_t signature) {
  if (step_mode_ == StepMode::Eager) return true;
  CudaStepRecording& rec = *recording_;
  if (step_mode_ == StepMode::Capturing) {
    rec.signatures.push_back(signature);
    rec.names.push_back(what);
    return true;
  }
  const size_t at = rec.next_signature++;
  SB_REQUIRE(at < rec.signatures.size(), "replayed decoding step issues more launches ({}: {}) than its capture ({})",
             at + 1, what, rec.signatures.size());
  SB_REQUIRE(rec.signatures[at] == signature,
             "replayed decoding step differs from its capture at launch {} ({}, captured {}): a static parameter "
             "changed without a new step key",
             at, what, rec.names[at]);
  return false;
}

void CudaBackend::begin_capture(CudaStepRecording& recording) {
  SB_REQUIRE(step_mode_ == StepMode::Eager, "cuda: a step capture started inside another step");
  // Relaxed: the caching allocator may cudaMalloc while the step is captured.
  CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  recording_ = &recording;
  step_mode_ = StepMode::Capturing;
}

void CudaBackend::end_capture(CudaStepRecording& recording, bool failed) {
  step_mode_ = StepMode::Eager;
  recording_ = nullptr;
  cudaGraph_t graph = nullptr;
  const cudaError_t status = cudaStreamEndCapture(stream_, &graph);
  if (failed) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    recording.clear();
    return;
  }
  CUDA_CHECK(status);
  const cudaError_t made = cudaGraphInstantiate(&recording.exec, graph, 0);
  cudaGraphDestroy(graph);
  CUDA_CHECK(made);
}

void CudaBackend::begin_dry_run(CudaStepRecording& recording) {
  SB_REQUIRE(step_mode_ == StepMode::Eager, "cuda: a step replay started inside another step");
  recording.next_signature = 0;
  recording.next_tensor = 0;
  recording_ = &recording;
  step_mode_ = StepMode::Replaying;
}

void CudaBackend::end_dry_run(CudaStepRecording& recording, bool failed) {
  step_mode_ = StepMode::Eager;
  recording_ = nullptr;
  if (failed) return;
  SB_REQUIRE(recording.next_signature == recording.signatures.size() &&
                 recording.next_tensor == recording.tensors.size(),
             "replayed decoding step issued {} launches and {} tensors, its capture {} and {}",
             recording.next_signature, recording.next_tensor, recording.signatures.size(), recording.tensors.size());
}

void CudaBackend::require_eager(const char* what) const {
  SB_REQUIRE(step_mode_ == StepMode::Eager,
             "cuda {} inside a recorded step: a replayed step cannot read or write host memory", what);
}

// Called by empty() while a step is recorded.
Tensor recorded_tensor(CudaStepRecording& recording, StepMode mode, Tensor fresh_or_empty, DType dtype,
                       const std::vector<int64_t>& shape) {
  if (mode == StepMode::Capturing) {
    recording.tensors.push_back(fresh_or_empty);
    return fresh_or_empty;
  }
  SB_REQUIRE(recording.next_tensor < recording.tensors.size(),
             "replayed decoding step allocates more tensors than its capture ({})", recording.tensors.size());
  const Tensor& held = recording.tensors[recording.next_tensor++];
  SB_REQUIRE(held.dtype() == dtype && held.shape() == shape,
             "replayed decoding step allocates {} where its capture allocated {}", Tensor(nullptr, dtype, shape).describe(),
             held.describe());
  return held;
}

}  // namespace sb
