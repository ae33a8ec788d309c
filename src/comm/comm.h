#pragma once
// Data movement between ranks for the attention methods. MpiComm moves host
// tensors (cpu backend); NcclComm moves device tensors (cuda backend) on its own
// stream so ring transfers overlap attention. Control (errors, timings, sizes)
// always goes through the MPI control plane in util/control.h, never here.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "backend/tensor.h"

namespace sb {

class Backend;

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Ring step: start sending `send` to rank dst and receiving into `recv` from
  // rank src; returns at once. ring_wait() completes every pending transfer.
  // Both tensors must stay untouched until ring_wait().
  virtual void ring_start(const Tensor& send, int dst, Tensor& recv, int src) = 0;
  virtual void ring_wait() = 0;

  virtual void broadcast(Tensor& buffer, int root) = 0;
  // Broadcast that returns at once (star's anchor KV, posted a layer ahead);
  // broadcast_wait() completes every pending one. On the cuda backend the wait
  // is device-side: the compute stream waits, the host goes on. Every rank
  // posts the same broadcasts in the same order; buffers stay untouched until
  // broadcast_wait().
  virtual void broadcast_start(Tensor& buffer, int root) = 0;
  virtual void broadcast_wait() = 0;
  // recv on root holds size() blocks of send.nbytes() in rank order; ignored elsewhere.
  virtual void gather(const Tensor& send, Tensor& recv, int root) = 0;
  // recv holds size() blocks of send.nbytes() in rank order, on every rank
  // (APB's passing blocks). Returns at once where the comm can overlap it;
  // all_gather_wait() completes every pending one (device-side on NCCL, like
  // broadcast_wait). Every rank posts the same all-gathers in the same order;
  // buffers stay untouched until the wait. The default gathers on rank 0 and
  // broadcasts from there, blocking; comms override it with their own.
  virtual void all_gather_start(const Tensor& send, Tensor& recv);
  virtual void all_gather_wait() {}
  void all_gather(const Tensor& send, Tensor& recv) {
    all_gather_start(send, recv);
    all_gather_wait();
  }
  // In place: every rank ends with the element-wise sum over the ranks (the
  // tensor split's all-reduce after o_proj and down_proj). Blocking for the
  // host on MPI; on NCCL enqueued on the compute stream.
  virtual void all_reduce_sum(Tensor& buffer) = 0;

  uint64_t bytes_sent() const { return bytes_sent_; }
  void reset_bytes_sent() { bytes_sent_ = 0; }

 protected:
  uint64_t bytes_sent_ = 0;
};

// A communicator of this rank alone (global attention inside a multi-rank job).
std::unique_ptr<Comm> make_local_comm(Backend& backend);

}  // namespace sb
