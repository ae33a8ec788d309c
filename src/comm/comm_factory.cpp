// Communicator selection by backend. This file is the starbench_factory
// library's, above the MPI comm (starbench_comm) and the NCCL comm
// (starbench_nccl, over the cuda backend); CMakeLists.txt defines
// STARBENCH_WITH_NCCL for it when the NCCL comm is built.
#include "comm/comm_factory.h"

#include <mpi.h>

#include <algorithm>
#include <map>
#include <vector>

#include "backend/backend.h"
#include "comm/mpi_comm.h"
#include "util/check_mpi.h"
#include "util/control.h"
#include "util/error.h"

#ifdef STARBENCH_WITH_NCCL
#include "comm/nccl_comm.h"
#endif

namespace sb {

namespace {
std::map<std::string, CommFactory>& registered_comms() {
  static std::map<std::string, CommFactory> factories;
  return factories;
}
}  // namespace

void register_comm(const std::string& backend_name, CommFactory factory) {
  if (factory) {
    registered_comms()[backend_name] = std::move(factory);
  } else {
    registered_comms().erase(backend_name);
  }
}

std::unique_ptr<Comm> make_comm(Backend& backend) {
  std::vector<int> everyone(size_t(Control::size()));  // the simulator's ranks too
  for (size_t rank = 0; rank < everyone.size(); ++rank) everyone[rank] = int(rank);
  return make_group_comm(backend, everyone);
}

std::unique_ptr<Comm> make_group_comm(Backend& backend, const std::vector<int>& members) {
  const int world_rank = Control::rank(), world_size = Control::size();
  const auto mine = std::find(members.begin(), members.end(), world_rank);
  SB_REQUIRE(mine != members.end(), "rank {} is not a member of the group it builds a communicator for",
             world_rank);
  for (int member : members) {
    SB_REQUIRE(0 <= member && member < world_size, "group member {} outside the world of {} ranks", member,
               world_size);
  }
  if (auto found = registered_comms().find(backend.name()); found != registered_comms().end()) {
    return found->second(backend, members);
  }
  const bool whole_world = int(members.size()) == world_size && std::is_sorted(members.begin(), members.end());
  // A group of one (every group, since they are all of one size): nothing to set up.
  if (members.size() == 1 && !whole_world) return make_local_comm(backend);
  if (backend.name() == "cuda") {
#ifdef STARBENCH_WITH_NCCL
    return whole_world ? make_nccl_comm(backend) : make_nccl_group_comm(backend, members);
#else
    // Built without NCCL (CMakeLists.txt says so at configure time): a job of
    // one rank moves nothing between ranks, so the one-rank comm serves it.
    SB_REQUIRE(world_size == 1,
               "the cuda backend on {} ranks needs NCCL, and this starbench was built without it (configure found "
               "no nccl.h / libnccl: point NCCL_HOME or NCCL_ROOT at an NCCL install and reconfigure), or use "
               "--backend cpu",
               world_size);
    return make_local_comm(backend);
#endif
  }
  SB_REQUIRE(backend.name() == "cpu", "no communicator for backend '{}'", backend.name());
  return whole_world ? make_mpi_comm() : make_mpi_group_comm(members, int(mine - members.begin()));
}

HostComms make_host_comms(Backend& backend, const HostLayout& layout, int world_rank) {
  HostComms comms;
  // The same order on every rank (between, then within): communicator setups
  // that wait for their peers (NCCL) cannot cross.
  comms.between = make_group_comm(backend, layout.ranks_of_index(layout.index_in_host(world_rank)));
  comms.within = make_group_comm(backend, layout.ranks_of_host(layout.host_of(world_rank)));
  return comms;
}

}  // namespace sb
