// Comm::all_gather (APB's passing blocks) on MPI at every rank count: every
// rank ends with every rank's block in rank order, whatever it computes
// between start and wait; bytes_sent counts a ring all-gather; the default
// (gather + broadcast) and the one-rank local comm agree with it.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "comm/comm.h"
#include "comm/mpi_comm.h"
#include "util/dtype.h"
#include "util/error.h"

namespace sb {
namespace {

// An MPI comm whose all-gather is Comm's default: everything else forwarded.
class DefaultAllGatherComm : public Comm {
 public:
  explicit DefaultAllGatherComm(std::unique_ptr<Comm> inner) : inner_(std::move(inner)) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  void ring_start(const Tensor& send, int dst, Tensor& recv, int src) override { inner_->ring_start(send, dst, recv, src); }
  void ring_wait() override { inner_->ring_wait(); }
  void broadcast(Tensor& buffer, int root) override { inner_->broadcast(buffer, root); }
  void broadcast_start(Tensor& buffer, int root) override { inner_->broadcast_start(buffer, root); }
  void broadcast_wait() override { inner_->broadcast_wait(); }
  void gather(const Tensor& send, Tensor& recv, int root) override { inner_->gather(send, recv, root); }
  void all_reduce_sum(Tensor& buffer) override { inner_->all_reduce_sum(buffer); }

 private:
  std::unique_ptr<Comm> inner_;
};

// Rank r's block: r * 64 + element index mod 64, integers below 256 (exact in bf16) up to 4 ranks.
std::vector<float> block_of(int rank, int64_t numel) {
  std::vector<float> values(static_cast<size_t>(numel));
  for (int64_t i = 0; i < numel; ++i) values[size_t(i)] = float(rank * 64 + i % 64);
  return values;
}

void expect_gathered(CpuBackend& backend, const Tensor& recv, int ranks, int64_t block_numel) {
  const std::vector<float> got = backend.to_host_f32(recv);
  ASSERT_EQ(int64_t(got.size()), block_numel * ranks);
  for (int r = 0; r < ranks; ++r) {
    const std::vector<float> want = block_of(r, block_numel);
    for (int64_t i = 0; i < block_numel; ++i)
      ASSERT_EQ(got[size_t(r * block_numel + i)], want[size_t(i)]) << "block of rank " << r << ", element " << i;
  }
}

Tensor make_block(CpuBackend& backend, DType dtype, std::vector<int64_t> shape, int rank) {
  Tensor shape_only(nullptr, dtype, shape);
  const std::vector<float> values = block_of(rank, shape_only.numel());
  if (dtype == DType::F32) return backend.from_host(dtype, std::move(shape), values.data());
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) bits[i] = f32_to_bf16(values[i]);
  return backend.from_host(dtype, std::move(shape), bits.data());
}

Tensor poisoned(CpuBackend& backend, DType dtype, std::vector<int64_t> shape) {
  Tensor t = backend.empty(dtype, std::move(shape));
  std::fill_n(static_cast<unsigned char*>(t.data()), t.nbytes(), 0xAB);
  return t;
}

TEST(AllGather, EveryRankGetsEveryBlockInRankOrder) {
  CpuBackend backend;
  auto comm = make_mpi_comm();
  const int n = comm->size(), me = comm->rank();
  for (DType dtype : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const int64_t k = 5, heads = 2, d = 8;
    Tensor send = make_block(backend, dtype, {k, heads, d}, me);
    Tensor recv = poisoned(backend, dtype, {n * k, heads, d});
    comm->reset_bytes_sent();
    comm->all_gather_start(send, recv);
    // Compute in between (the overlap APB uses): nothing here touches the buffers.
    Tensor other = backend.empty(DType::F32, {16});
    backend.silu(other);
    comm->all_gather_wait();
    expect_gathered(backend, recv, n, k * heads * d);
    EXPECT_EQ(comm->bytes_sent(), send.nbytes() * uint64_t(n - 1));
  }
}

TEST(AllGather, SeveralPendingCompleteInOneWait) {
  CpuBackend backend;
  auto comm = make_mpi_comm();
  const int n = comm->size(), me = comm->rank();
  // The K and V passing blocks of one layer, posted together.
  Tensor k_send = make_block(backend, DType::F32, {3, 4}, me), v_send = make_block(backend, DType::F32, {7}, me);
  Tensor k_recv = poisoned(backend, DType::F32, {n, 3, 4}), v_recv = poisoned(backend, DType::F32, {n * 7});
  comm->reset_bytes_sent();
  comm->all_gather_start(k_send, k_recv);
  comm->all_gather_start(v_send, v_recv);
  comm->all_gather_wait();
  expect_gathered(backend, k_recv, n, 12);
  expect_gathered(backend, v_recv, n, 7);
  EXPECT_EQ(comm->bytes_sent(), (k_send.nbytes() + v_send.nbytes()) * uint64_t(n - 1));
  // Nothing pending: a wait returns at once; all_gather() blocks.
  comm->all_gather_wait();
  Tensor again = poisoned(backend, DType::F32, {n, 3, 4});
  comm->all_gather(k_send, again);
  expect_gathered(backend, again, n, 12);
}

TEST(AllGather, InPlaceFromOwnBlockAndEmptyBlocks) {
  CpuBackend backend;
  auto comm = make_mpi_comm();
  const int n = comm->size(), me = comm->rank();
  Tensor recv = poisoned(backend, DType::F32, {n * 6});
  Tensor own = make_block(backend, DType::F32, {6}, me);
  Tensor slot = recv.rows(me * 6, me * 6 + 6);
  backend.copy_rows(slot, 0, own, 0, 6);
  comm->all_gather(slot, recv);
  expect_gathered(backend, recv, n, 6);
  // l_p = 0: empty blocks are fine.
  Tensor none = backend.empty(DType::F32, {0, 2, 8}), none_recv = backend.empty(DType::F32, {0, 2, 8});
  comm->reset_bytes_sent();
  comm->all_gather(none, none_recv);
  EXPECT_EQ(comm->bytes_sent(), 0u);
}

TEST(AllGather, RejectsARecvOfTheWrongSize) {
  CpuBackend backend;
  auto comm = make_mpi_comm();
  Tensor send = backend.empty(DType::F32, {4}), recv = backend.empty(DType::F32, {4 * comm->size() + 1});
  EXPECT_THROW(comm->all_gather_start(send, recv), Error);  // on every rank: no collective was posted
}

TEST(AllGather, DefaultGatherAndBroadcastAgree) {
  CpuBackend backend;
  DefaultAllGatherComm comm(make_mpi_comm());
  const int n = comm.size(), me = comm.rank();
  Tensor send = make_block(backend, DType::BF16, {4, 2, 3}, me);
  Tensor recv = poisoned(backend, DType::BF16, {n, 4, 2, 3});
  comm.all_gather_start(send, recv);
  comm.all_gather_wait();
  expect_gathered(backend, recv, n, 24);
}

TEST(AllGather, LocalCommCopiesTheOneBlock) {
  CpuBackend backend;
  auto comm = make_local_comm(backend);
  Tensor send = make_block(backend, DType::F32, {5, 2, 3}, 0);
  Tensor recv = poisoned(backend, DType::F32, {1, 5, 2, 3});
  comm->all_gather(send, recv);
  expect_gathered(backend, recv, 1, 30);
  Tensor wrong = backend.empty(DType::F32, {2, 5, 2, 3});
  EXPECT_THROW(comm->all_gather(send, wrong), Error);
  EXPECT_EQ(comm->bytes_sent(), 0u);
}

}  // namespace
}  // namespace sb
