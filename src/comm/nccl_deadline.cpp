#include "comm/nccl_deadline.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/core.h>

#include "backend/cuda/check_cuda.h"
#include "util/error.h"

namespace sb {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string timeout_message(const std::string& what, double timeout_s) {
  return fmt::format(
      "NCCL {} did not complete within {:.0f} s: another rank failed or took another path, or NCCL cannot reach "
      "it (between nodes check NCCL_SOCKET_IFNAME / NCCL_IB_HCA; NCCL_DEBUG=INFO shows what NCCL tried); "
      "STARBENCH_COLLECTIVE_TIMEOUT_S sets the limit",
      what, timeout_s);
}

}  // namespace

NcclDeadline::NcclDeadline(ncclComm_t comm, int device, double timeout_s)
    : comm_(comm), device_(device), timeout_s_(timeout_s), thread_([this] { watchdog(); }) {}

NcclDeadline::~NcclDeadline() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  for (const Pending& pending : pending_) cudaEventDestroy(pending.done);
  for (cudaEvent_t event : spare_) cudaEventDestroy(event);
}

void NcclDeadline::fail_and_abort(const std::string& message) {
  aborted_ = true;
  ncclCommAbort(comm_);  // stops this rank's kernels that wait on the peer
  fail("rank {}: {}", current_rank(), message);
}

void NcclDeadline::call(ncclResult_t result, const std::string& what) {
  if (result == ncclSuccess) return;
  if (result != ncclInProgress)
    fail_and_abort(fmt::format("NCCL {} failed: {} {}", what, ncclGetErrorString(result), ncclGetLastError(comm_)));
  // Non-blocking communicator: the call goes on in the background (connection
  // setup to a new peer, say) and must finish before the next call.
  const auto start = std::chrono::steady_clock::now();
  auto pause = std::chrono::microseconds(10);
  while (true) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t query = ncclCommGetAsyncError(comm_, &state);
    if (query != ncclSuccess) state = query;
    if (state == ncclSuccess) return;
    if (state != ncclInProgress)
      fail_and_abort(fmt::format("NCCL {} failed: {} {}", what, ncclGetErrorString(state), ncclGetLastError(comm_)));
    if (seconds_since(start) > timeout_s_) fail_and_abort(timeout_message(what, timeout_s_));
    std::this_thread::sleep_for(pause);
    if (pause < std::chrono::milliseconds(10)) pause *= 2;
  }
}

void NcclDeadline::watch(cudaStream_t stream, const std::string& what) {
  cudaEvent_t done = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!spare_.empty()) {
      done = spare_.back();
      spare_.pop_back();
    }
  }
  if (done == nullptr) CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventRecord(done, stream));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back({done, what, std::chrono::steady_clock::now()});
  }
  wake_.notify_one();
}

void NcclDeadline::watchdog() {
  cudaSetDevice(device_);  // the events belong to this device's context
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stop_ || !pending_.empty(); });
    if (stop_) return;
    const Pending oldest = pending_.front();
    lock.unlock();
    // Not ready, or done; another error is the main thread's to report (its
    // next CUDA call sees it).
    const bool done = cudaEventQuery(oldest.done) != cudaErrorNotReady;
    ncclResult_t state = ncclSuccess;
    if (!done) ncclCommGetAsyncError(comm_, &state);
    std::string problem;
    if (!done && state != ncclSuccess && state != ncclInProgress) {
      problem = fmt::format("NCCL {} failed: {} {}", oldest.what, ncclGetErrorString(state), ncclGetLastError(comm_));
    } else if (!done && seconds_since(oldest.since) > timeout_s_) {
      problem = timeout_message(oldest.what, timeout_s_);
    }
    if (!problem.empty()) {
      // The host thread may be blocked in a synchronisation behind this
      // operation, and MPI runs single-threaded (MPI_Init), so this thread
      // cannot raise the error there nor call MPI_Abort: it reports, aborts the
      // communicator and ends the process; a rank that exits non-zero makes
      // mpiexec (and srun --kill-on-bad-exit) end the job.
      fmt::print(stderr, "starbench: rank {}: error: {}; aborting the job\n", current_rank(), problem);
      std::fflush(stderr);
      aborted_ = true;
      ncclCommAbort(comm_);
      std::_Exit(3);
    }
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lock.lock();
    if (done && !pending_.empty() && pending_.front().done == oldest.done) {
      pending_.pop_front();
      spare_.push_back(oldest.done);
    }
  }
}

}  // namespace sb
