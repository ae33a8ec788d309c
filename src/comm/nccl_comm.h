#pragma once
// Comm over NCCL for device tensors of the cuda backend. Transfers run on a
// stream of their own: ring_start enqueues send/recv there after an event
// that marks "the send buffer is ready" on the compute stream, and ring_wait
// makes the compute stream wait for the transfer's completion event, so the
// host never blocks and attention on the current block overlaps the transfer
// of the next.
#include <memory>
#include <vector>

#include "comm/comm.h"

namespace sb {

class Backend;

// The NCCL unique id travels by MPI_Bcast over MPI_COMM_WORLD; one rank per GPU.
// Throws sb::Error if backend is not the cuda backend.
std::unique_ptr<Comm> make_nccl_comm(Backend& backend);
// Over the world ranks `members` (a host's GPUs, or one index of every host).
// Collective over the world: every rank calls it with its own group (the ids
// of the groups travel in one all-gather).
std::unique_ptr<Comm> make_nccl_group_comm(Backend& backend, const std::vector<int>& members);

}  // namespace sb
