#pragma once
// The communicator over all ranks for a backend (starbench_factory, the library
// above the MPI and the NCCL comm: the only code that knows both).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "comm/host_layout.h"

namespace sb {

// Over all ranks: MPI for the cpu backend, NCCL for the cuda backend, or the
// comm registered for the backend's name (the simulator's, while it runs).
std::unique_ptr<Comm> make_comm(Backend& backend);
// Over the world ranks `members` (this rank among them; comm rank i is
// members[i]). Collective over the world: every rank calls it at once, each
// with its own group, and the groups partition the world into groups of one
// size. Groups of one member are LocalComms (no collective then).
std::unique_ptr<Comm> make_group_comm(Backend& backend, const std::vector<int>& members);
using CommFactory = std::function<std::unique_ptr<Comm>(Backend&, const std::vector<int>& members)>;
void register_comm(const std::string& backend_name, CommFactory factory);  // an empty factory unregisters
// A rank's two communicators of a host layout (comm/host_layout.h). Collective
// over the world: every rank builds its pair, between hosts first.
HostComms make_host_comms(Backend& backend, const HostLayout& layout, int world_rank);

}  // namespace sb
