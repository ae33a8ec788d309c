// Communicator selection by backend. This file is the starbench_factory
// library's, above the MPI comm (starbench_comm) and the NCCL comm
// (starbench_nccl, over the cuda backend); CMakeLists.txt defines
// STARBENCH_WITH_NCCL for it when the NCCL comm is built.
#include "comm/comm_factory.h"

#include <mpi.h>

#include <map>

#include "backend/backend.h"
#include "comm/mpi_comm.h"
#include "util/check_mpi.h"
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
  if (auto found = registered_comms().find(backend.name()); found != registered_comms().end()) {
    return found->second(backend);
  }
  if (backend.name() == "cuda") {
#ifdef STARBENCH_WITH_NCCL
    return make_nccl_comm(backend);
#else
    // Built without NCCL (CMakeLists.txt says so at configure time): a job of
    // one rank moves nothing between ranks, so the one-rank comm serves it.
    int world_size = 1;
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_size));
    SB_REQUIRE(world_size == 1,
               "the cuda backend on {} ranks needs NCCL, and this starbench was built without it (configure found "
               "no nccl.h / libnccl: point NCCL_HOME or NCCL_ROOT at an NCCL install and reconfigure), or use "
               "--backend cpu",
               world_size);
    return make_local_comm(backend);
#endif
  }
  SB_REQUIRE(backend.name() == "cpu", "no communicator for backend '{}'", backend.name());
  return make_mpi_comm();
}

}  // namespace sb
