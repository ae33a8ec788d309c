// Comm's defaults: collectives written as the ones every comm has.
#include "comm/comm.h"

#include "util/error.h"

namespace sb {

void Comm::all_gather_start(const Tensor& send, Tensor& recv) {
  SB_REQUIRE(recv.nbytes() == send.nbytes() * size_t(size()), "all_gather: recv {} is not {} blocks of send {}",
             recv.describe(), size(), send.describe());
  gather(send, recv, 0);
  broadcast(recv, 0);
}

}  // namespace sb
