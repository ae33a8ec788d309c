#pragma once
// Deadlines for NCCL, like those of the MPI control plane (util/control.h):
// STARBENCH_COLLECTIVE_TIMEOUT_S, default 600 s. NCCL calls return before their
// transfer is done (it runs on a stream), and a peer that never comes (a dead
// rank, the wrong interface or HCA between nodes) leaves the kernels waiting for
// ever, with the host blocked at its next synchronisation until the job's time
// limit. So NcclComm's communicator is non-blocking (ncclCommInitRankConfig with
// blocking = 0), and this helper
//  - polls a call's "in progress" state (ncclCommGetAsyncError) against the
//    deadline: call(), on the calling thread, which throws sb::Error;
//  - follows every enqueued operation to completion from a watchdog thread
//    (an event recorded after it): watch(). Past the deadline, or on an
//    asynchronous NCCL error, the watchdog aborts the communicator
//    (ncclCommAbort, which stops the waiting kernels) and ends the process with
//    a message naming the operation and the ranks; mpiexec / srun then end the
//    other ranks.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sb {

class NcclDeadline {
 public:
  // `comm` must outlive this helper; `device` is the CUDA device of its streams.
  NcclDeadline(ncclComm_t comm, int device, double timeout_s);
  ~NcclDeadline();  // stops the watchdog (call before destroying the communicator)
  NcclDeadline(const NcclDeadline&) = delete;
  NcclDeadline& operator=(const NcclDeadline&) = delete;

  // Checks the result of an NCCL call on the communicator; when it is still in
  // progress (non-blocking mode), waits for it up to the deadline. On an error
  // or a timeout aborts the communicator and throws sb::Error naming `what`.
  void call(ncclResult_t result, const std::string& what);
  // Follows the operation enqueued last on `stream` until it completes.
  void watch(cudaStream_t stream, const std::string& what);
  // True once the communicator was aborted (it must then not be destroyed).
  bool aborted() const { return aborted_; }
  double timeout_s() const { return timeout_s_; }

 private:
  struct Pending {
    cudaEvent_t done;
    std::string what;
    std::chrono::steady_clock::time_point since;
  };
  void watchdog();
  [[noreturn]] void fail_and_abort(const std::string& message);

  ncclComm_t comm_;
  int device_;
  double timeout_s_;
  std::atomic<bool> aborted_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> pending_;       // oldest first
  std::vector<cudaEvent_t> spare_;    // completed events, reused
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sb
