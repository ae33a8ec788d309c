#include "comm/nccl_comm.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <fmt/core.h>

#include "backend/cuda/check_cuda.h"
#include "backend/cuda/cuda_backend.h"
#include "comm/nccl_deadline.h"
#include "util/control.h"

namespace sb {
namespace {

// ncclCommFinalize (in progress on a non-blocking communicator) waits for the
// peers to be done with us; a peer that never is gets the communicator aborted
// after the deadline, as in NcclDeadline. Never throws: it runs in a destructor.
void release_communicator(ncclComm_t comm, double timeout_s) {
  ncclResult_t state = ncclCommFinalize(comm);
  const auto start = std::chrono::steady_clock::now();
  while (state == ncclInProgress &&
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < timeout_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (ncclCommGetAsyncError(comm, &state) != ncclSuccess) break;
  }
  if (state == ncclSuccess) {
    ncclCommDestroy(comm);
  } else {
    ncclCommAbort(comm);
  }
}

class NcclComm : public Comm {
 public:
  // Over the world ranks `members` (this rank is members[rank]); the whole
  // world when members is empty.
  NcclComm(CudaBackend& backend, const std::vector<int>& members)
      : backend_(backend), compute_(backend.stream()) {
    // NVLink multicast (NVLS) can take a shared host's GPUs out of service: keep it off
    // unless the user explicitly decided otherwise.
    setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
    ncclUniqueId id{};
    static_assert(sizeof id % sizeof(int64_t) == 0);
    if (members.empty()) {
      rank_ = Control::rank();
      size_ = Control::size();
      // The unique id goes out from rank 0 by MPI_Bcast over MPI_COMM_WORLD
      // (Control's broadcast: with a deadline, so a dead rank cannot hang us).
      std::vector<int64_t> words(sizeof id / sizeof(int64_t));
      if (rank_ == 0) {
        NCCL_CHECK(ncclGetUniqueId(&id));
        std::memcpy(words.data(), &id, sizeof id);
      }
      words = Control::broadcast_ints(words, 0);
      std::memcpy(&id, words.data(), sizeof id);
    } else {
      size_ = int(members.size());
      rank_ = int(std::find(members.begin(), members.end(), Control::rank()) - members.begin());
      // Every group's first member makes its id; one all-gather over the world
      // (with Control's deadline) hands each rank its group's.
      std::string mine;
      if (rank_ == 0) {
        NCCL_CHECK(ncclGetUniqueId(&id));
        mine.assign(reinterpret_cast<const char*>(&id), sizeof id);
      }
      const std::vector<std::string> ids = Control::gather_all_strings(mine);
      const std::string& ours = ids.at(size_t(members.front()));
      SB_REQUIRE(ours.size() == sizeof id, "NCCL group of ranks led by {}: no communicator id from it",
                 members.front());
      std::memcpy(&id, ours.data(), sizeof id);
    }
    CUDA_CHECK(cudaSetDevice(backend_.device()));
    // Non-blocking, so that every wait on a peer has a deadline (nccl_deadline.h).
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t started = ncclCommInitRankConfig(&comm_, size_, id, rank_, &config);
    deadline_ = std::make_unique<NcclDeadline>(comm_, backend_.device(), Control::collective_timeout_s());
    deadline_->call(started, fmt::format("communicator setup over {} ranks (this is rank {} of them, world rank {})",
                                         size_, rank_, Control::rank()));
    CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  }
  ~NcclComm() override {
    if (pending_) cudaStreamSynchronize(comm_stream_);  // still under the watchdog's deadline
    const bool aborted = !deadline_ || deadline_->aborted();
    const double timeout_s = deadline_ ? deadline_->timeout_s() : Control::collective_timeout_s();
    deadline_.reset();
    cudaEventDestroy(done_);
    cudaEventDestroy(ready_);
    cudaStreamDestroy(comm_stream_);
    if (comm_ != nullptr && !aborted) release_communicator(comm_, timeout_s);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void ring_start(const Tensor& send, int dst, Tensor& recv, int src) override {
    // Sizes may differ (uneven zigzag chunks): each recv matches its sender's send.
    SB_REQUIRE(0 <= dst && dst < size_ && 0 <= src && src < size_, "nccl ring_start: peer {} / {} outside [0, {})",
               dst, src, size_);
    // The transfer may start only once the compute stream has produced `send`
    // and finished reading the previous contents of `recv`.
    CUDA_CHECK(cudaEventRecord(ready_, compute_));
    CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_, 0));
    NCCL_CHECK(ncclGroupStart());
    if (send.nbytes() > 0) NCCL_CHECK(ncclSend(send.data(), send.nbytes(), ncclUint8, dst, comm_, comm_stream_));
    if (recv.nbytes() > 0) NCCL_CHECK(ncclRecv(recv.data(), recv.nbytes(), ncclUint8, src, comm_, comm_stream_));
    const std::string what =
        fmt::format("ring transfer of rank {} (send to rank {}, receive from rank {}) over {} ranks", rank_, dst, src,
                    size_);
    deadline_->call(ncclGroupEnd(), what);
    deadline_->watch(comm_stream_, what);
    bytes_sent_ += send.nbytes();
    pending_ = true;
  }

  void ring_wait() override {
    if (!pending_) return;
    CUDA_CHECK(cudaEventRecord(done_, comm_stream_));
    CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));  // device-side wait: the host goes on
    pending_ = false;
  }

  void broadcast(Tensor& buffer, int root) override {
    SB_REQUIRE(0 <= root && root < size_, "nccl broadcast: root {} outside [0, {})", root, size_);
    if (buffer.nbytes() == 0) return;
    ring_wait();
    const std::string what = fmt::format("broadcast from rank {} over {} ranks (this is rank {})", root, size_, rank_);
    deadline_->call(ncclBroadcast(buffer.data(), buffer.data(), buffer.nbytes(), ncclUint8, root, comm_, compute_),
                    what);
    deadline_->watch(compute_, what);
    if (rank_ == root) bytes_sent_ += buffer.nbytes() * uint64_t(size_ - 1);
  }

  void broadcast_start(Tensor& buffer, int root) override {
    SB_REQUIRE(0 <= root && root < size_, "nccl broadcast_start: root {} outside [0, {})", root, size_);
    if (buffer.nbytes() == 0) return;
    // Like ring_start: on the comm stream, after the compute stream has
    // produced the root's data and finished reading the receivers' buffer.
    CUDA_CHECK(cudaEventRecord(ready_, compute_));
    CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_, 0));
    const std::string what =
        fmt::format("anchor broadcast from rank {} over {} ranks (this is rank {})", root, size_, rank_);
    deadline_->call(ncclBroadcast(buffer.data(), buffer.data(), buffer.nbytes(), ncclUint8, root, comm_, comm_stream_),
                    what);
    deadline_->watch(comm_stream_, what);
    if (rank_ == root) bytes_sent_ += buffer.nbytes() * uint64_t(size_ - 1);
    pending_ = true;
  }

  void broadcast_wait() override { ring_wait(); }

  void gather(const Tensor& send, Tensor& recv, int root) override {
    SB_REQUIRE(0 <= root && root < size_, "nccl gather: root {} outside [0, {})", root, size_);
    if (rank_ == root)
      SB_REQUIRE(recv.nbytes() == send.nbytes() * size_t(size_), "nccl gather: recv {} must hold {} x {}",
                 recv.describe(), size_, send.describe());
    if (send.nbytes() == 0) return;
    ring_wait();
    NCCL_CHECK(ncclGroupStart());
    if (rank_ == root) {
      for (int peer = 0; peer < size_; ++peer) {
        char* slot = static_cast<char*>(recv.data()) + size_t(peer) * send.nbytes();
        if (peer == root)
          CUDA_CHECK(cudaMemcpyAsync(slot, send.data(), send.nbytes(), cudaMemcpyDeviceToDevice, compute_));
        else
          NCCL_CHECK(ncclRecv(slot, send.nbytes(), ncclUint8, peer, comm_, compute_));
      }
    } else {
      NCCL_CHECK(ncclSend(send.data(), send.nbytes(), ncclUint8, root, comm_, compute_));
      bytes_sent_ += send.nbytes();
    }
    const std::string what = fmt::format("gather to rank {} over {} ranks (this is rank {})", root, size_, rank_);
    deadline_->call(ncclGroupEnd(), what);
    deadline_->watch(compute_, what);
  }

  // APB's passing blocks: like broadcast_start, on the comm stream after the
  // compute stream has produced `send` and finished reading `recv`;
  // all_gather_wait makes the compute stream wait for it (device-side).
  void all_gather_start(const Tensor& send, Tensor& recv) override {
    SB_REQUIRE(recv.nbytes() == send.nbytes() * size_t(size_), "nccl all_gather: recv {} is not {} blocks of send {}",
               recv.describe(), size_, send.describe());
    if (send.nbytes() == 0) return;
    CUDA_CHECK(cudaEventRecord(ready_, compute_));
    CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_, 0));
    const std::string what = fmt::format("all-gather of {} bytes per rank over {} ranks (this is rank {})",
                                         send.nbytes(), size_, rank_);
    deadline_->call(ncclAllGather(send.data(), recv.data(), send.nbytes(), ncclUint8, comm_, comm_stream_), what);
    deadline_->watch(comm_stream_, what);
    bytes_sent_ += send.nbytes() * uint64_t(size_ - 1);  // a ring all-gather: each block to size - 1 others
    pending_ = true;
  }

  void all_gather_wait() override { ring_wait(); }

  void all_reduce_sum(Tensor& buffer) override {
    SB_REQUIRE(buffer.dtype() == DType::BF16 || buffer.dtype() == DType::F32,
               "nccl all-reduce of {}: BF16 or F32 only", buffer.describe());
    if (size_ == 1 || buffer.numel() == 0) return;
    ring_wait();
    // On the compute stream: the next op reads the sum, so nothing is gained
    // by a stream of its own.
    const std::string what = fmt::format("all-reduce of {} over {} ranks (this is rank {})", buffer.describe(),
                                         size_, rank_);
    deadline_->call(ncclAllReduce(buffer.data(), buffer.data(), size_t(buffer.numel()),
                                  buffer.dtype() == DType::BF16 ? ncclBfloat16 : ncclFloat32, ncclSum, comm_,
                                  compute_),
                    what);
    deadline_->watch(compute_, what);
    bytes_sent_ += buffer.nbytes() * 2 * uint64_t(size_ - 1) / uint64_t(size_);
  }

 private:
  CudaBackend& backend_;
  cudaStream_t compute_;
  cudaStream_t comm_stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, done_ = nullptr;
  ncclComm_t comm_ = nullptr;
  std::unique_ptr<NcclDeadline> deadline_;
  int rank_ = 0, size_ = 1;
  bool pending_ = false;
};

}  // namespace

std::unique_ptr<Comm> make_nccl_comm(Backend& backend) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  SB_REQUIRE(cuda != nullptr, "NCCL comm needs the cuda backend, got the {} backend", backend.name());
  return std::make_unique<NcclComm>(*cuda, std::vector<int>{});
}

std::unique_ptr<Comm> make_nccl_group_comm(Backend& backend, const std::vector<int>& members) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  SB_REQUIRE(cuda != nullptr, "NCCL comm needs the cuda backend, got the {} backend", backend.name());
  return std::make_unique<NcclComm>(*cuda, members);
}

}  // namespace sb
