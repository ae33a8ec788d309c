// Comm over MPI for host tensors (the cpu backend).
#include "comm/mpi_comm.h"

#include <mpi.h>

#include <climits>
#include <vector>

#include "backend/backend.h"
#include "util/check_mpi.h"

namespace sb {
namespace {

class MpiComm : public Comm {
 public:
  // Takes ownership of `comm` (a duplicate or split of MPI_COMM_WORLD).
  explicit MpiComm(MPI_Comm comm) : comm_(comm) {
    MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  ~MpiComm() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void ring_start(const Tensor& send, int dst, Tensor& recv, int src) override {
    SB_REQUIRE(send.nbytes() <= size_t(INT_MAX) && recv.nbytes() <= size_t(INT_MAX),
               "ring transfer of {} bytes exceeds one MPI message", send.nbytes());
    MPI_Request requests[2];
    MPI_CHECK(MPI_Irecv(recv.data(), int(recv.nbytes()), MPI_BYTE, src, kRingTag, comm_, &requests[0]));
    MPI_CHECK(MPI_Isend(send.data(), int(send.nbytes()), MPI_BYTE, dst, kRingTag, comm_, &requests[1]));
    pending_.push_back(requests[0]);
    pending_.push_back(requests[1]);
    bytes_sent_ += send.nbytes();
  }

  void ring_wait() override {
    for (MPI_Request& request : pending_) wait_or_abort(request, "ring send/recv");
    pending_.clear();
  }

  void broadcast(Tensor& buffer, int root) override {
    MPI_Request request;
    MPI_CHECK(MPI_Ibcast(buffer.data(), int(buffer.nbytes()), MPI_BYTE, root, comm_, &request));
    wait_or_abort(request, "broadcast");
    if (rank_ == root) bytes_sent_ += buffer.nbytes() * size_t(size_ - 1);
  }

  void broadcast_start(Tensor& buffer, int root) override {
    SB_REQUIRE(buffer.nbytes() <= size_t(INT_MAX), "broadcast of {} bytes exceeds one MPI message", buffer.nbytes());
    MPI_Request request;
    MPI_CHECK(MPI_Ibcast(buffer.data(), int(buffer.nbytes()), MPI_BYTE, root, comm_, &request));
    pending_broadcasts_.push_back(request);
    if (rank_ == root) bytes_sent_ += buffer.nbytes() * size_t(size_ - 1);
  }

  void broadcast_wait() override {
    for (MPI_Request& request : pending_broadcasts_) wait_or_abort(request, "broadcast (anchor)");
    pending_broadcasts_.clear();
  }

  void gather(const Tensor& send, Tensor& recv, int root) override {
    if (rank_ == root) {
      SB_REQUIRE(recv.nbytes() >= send.nbytes() * size_t(size_), "gather buffer too small: {} for {} ranks of {}",
                 recv.describe(), size_, send.describe());
    }
    MPI_Request request;
    MPI_CHECK(MPI_Igather(send.data(), int(send.nbytes()), MPI_BYTE, rank_ == root ? recv.data() : nullptr,
                          int(send.nbytes()), MPI_BYTE, root, comm_, &request));
    wait_or_abort(request, "gather");
    if (rank_ != root) bytes_sent_ += send.nbytes();
  }

  // APB's passing blocks: posted here, completed (with the collective
  // timeout) in all_gather_wait, so the caller computes in between.
  void all_gather_start(const Tensor& send, Tensor& recv) override {
    SB_REQUIRE(recv.nbytes() == send.nbytes() * size_t(size_), "all_gather: recv {} is not {} blocks of send {}",
               recv.describe(), size_, send.describe());
    SB_REQUIRE(send.nbytes() <= size_t(INT_MAX), "all-gather of {} bytes per rank exceeds one MPI message",
               send.nbytes());
    // send may be this rank's own block of recv (MPI wants MPI_IN_PLACE then).
    const bool in_place = send.data() == static_cast<const char*>(recv.data()) + size_t(rank_) * send.nbytes();
    MPI_Request request;
    MPI_CHECK(MPI_Iallgather(in_place ? MPI_IN_PLACE : send.data(), int(send.nbytes()), MPI_BYTE, recv.data(),
                             int(send.nbytes()), MPI_BYTE, comm_, &request));
    pending_all_gathers_.push_back(request);
    // A ring all-gather: every rank sends its block to size - 1 others.
    bytes_sent_ += send.nbytes() * size_t(size_ - 1);
  }

  void all_gather_wait() override {
    for (MPI_Request& request : pending_all_gathers_) wait_or_abort(request, "all-gather (passing blocks)");
    pending_all_gathers_.clear();
  }

  void all_reduce_sum(Tensor& buffer) override {
    SB_REQUIRE(buffer.dtype() == DType::F32, "MPI all-reduce of {}: F32 only (the cpu backend's activations)",
               buffer.describe());
    SB_REQUIRE(buffer.numel() <= int64_t(INT_MAX), "all-reduce of {} exceeds one MPI message", buffer.describe());
    if (size_ == 1 || buffer.numel() == 0) return;
    MPI_Request request;
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buffer.data(), int(buffer.numel()), MPI_FLOAT, MPI_SUM, comm_, &request));
    wait_or_abort(request, "all-reduce");
    // A ring all-reduce sends 2 (n - 1) / n of the buffer from every rank.
    bytes_sent_ += buffer.nbytes() * 2 * size_t(size_ - 1) / size_t(size_);
  }

 private:
  static constexpr int kRingTag = 7001;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> pending_;
  std::vector<MPI_Request> pending_broadcasts_;
  std::vector<MPI_Request> pending_all_gathers_;
};

}  // namespace

std::unique_ptr<Comm> make_mpi_comm() {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  return std::make_unique<MpiComm>(comm);
}

std::unique_ptr<Comm> make_mpi_group_comm(const std::vector<int>& members, int position) {
  // Collective over the world: the group's first member names it (the groups
  // partition the world), the position in `members` orders it.
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, members.front(), position, &comm));
  return std::make_unique<MpiComm>(comm);
}

}  // namespace sb
