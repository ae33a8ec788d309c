#pragma once
// The communicator over all ranks for a backend (starbench_factory, the library
// above the MPI and the NCCL comm: the only code that knows both).
#include <functional>
#include <memory>
#include <string>

#include "comm/comm.h"

namespace sb {

// Over all ranks: MPI for the cpu backend, NCCL for the cuda backend, or the
// comm registered for the backend's name (the simulator's, while it runs).
std::unique_ptr<Comm> make_comm(Backend& backend);
using CommFactory = std::function<std::unique_ptr<Comm>(Backend&)>;
void register_comm(const std::string& backend_name, CommFactory factory);  // an empty factory unregisters

}  // namespace sb
