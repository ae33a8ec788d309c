#pragma once
// Comm over MPI (MPI_COMM_WORLD, duplicated) for host tensors: the cpu backend's.
#include <memory>
#include <vector>

#include "comm/comm.h"

namespace sb {

std::unique_ptr<Comm> make_mpi_comm();
// Over the world ranks `members`, this rank at `position` among them. Collective
// over the world: every rank calls it with its own group (MPI_Comm_split).
std::unique_ptr<Comm> make_mpi_group_comm(const std::vector<int>& members, int position);

}  // namespace sb
