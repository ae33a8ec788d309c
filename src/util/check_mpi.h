#pragma once
// MPI_CHECK names the call and the rank; a failed MPI call is never ignored.
#include <mpi.h>

#include "util/error.h"

#define MPI_CHECK(call)                                                              \
  do {                                                                               \
    int mpi_status_ = (call);                                                        \
    if (mpi_status_ != MPI_SUCCESS) {                                                \
      char mpi_text_[MPI_MAX_ERROR_STRING];                                          \
      int mpi_len_ = 0;                                                              \
      MPI_Error_string(mpi_status_, mpi_text_, &mpi_len_);                          \
      ::sb::fail("rank {}: {} failed at {}:{}: {}", ::sb::current_rank(), #call,     \
                 __FILE__, __LINE__, std::string(mpi_text_, mpi_len_));              \
    }                                                                                \
  } while (0)

namespace sb {
// Completes a nonblocking MPI operation, or aborts the whole job with a message
// naming `what` once Control::collective_timeout_s() has passed: never a hang.
void wait_or_abort(MPI_Request& request, const char* what);
}  // namespace sb
