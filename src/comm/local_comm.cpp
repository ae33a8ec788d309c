// A one-rank communicator: collectives are copies or nothing.
#include "backend/backend.h"
#include "comm/comm.h"
#include "util/error.h"

namespace sb {
namespace {

class LocalComm : public Comm {
 public:
  explicit LocalComm(Backend& backend) : backend_(backend) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void ring_start(const Tensor& send, int, Tensor& recv, int) override {
    SB_REQUIRE(send.nbytes() == recv.nbytes(), "ring to self: {} vs {}", send.describe(), recv.describe());
    backend_.copy_rows(recv, 0, send, 0, send.dim(0));
  }
  void ring_wait() override {}
  void broadcast(Tensor&, int) override {}
  void broadcast_start(Tensor&, int) override {}
  void broadcast_wait() override {}
  void gather(const Tensor& send, Tensor& recv, int) override { backend_.copy_rows(recv, 0, send, 0, send.dim(0)); }
  // One block: recv is a copy of send (flat: their shapes may differ, e.g.
  // send [k, H, d] into recv [1, k, H, d]).
  void all_gather_start(const Tensor& send, Tensor& recv) override {
    SB_REQUIRE(send.dtype() == recv.dtype() && send.nbytes() == recv.nbytes(), "all_gather on one rank: recv {} for send {}",
               recv.describe(), send.describe());
    Tensor to = recv.reshape({recv.numel()});
    backend_.copy_rows(to, 0, send.reshape({send.numel()}), 0, send.numel());
  }
  void all_reduce_sum(Tensor&) override {}

 private:
  Backend& backend_;
};

}  // namespace

std::unique_ptr<Comm> make_local_comm(Backend& backend) { return std::make_unique<LocalComm>(backend); }

}  // namespace sb
