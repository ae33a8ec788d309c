#pragma once
// Comm over MPI (MPI_COMM_WORLD, duplicated) for host tensors: the cpu backend's.
#include <memory>

#include "comm/comm.h"

namespace sb {

std::unique_ptr<Comm> make_mpi_comm();

}  // namespace sb
