// A hung NCCL operation ends the job at STARBENCH_COLLECTIVE_TIMEOUT_S with a
// message naming the operation and the ranks (comm/nccl_deadline.h):
//   mpiexec -n 2 nccl_deadline init        rank 1 never joins the communicator (1 GPU is enough)
//   mpiexec -n 2 nccl_deadline broadcast   rank 1 never sends its broadcast (one GPU per rank: 2 GPUs)
// The silent rank sleeps far past the deadline, so only the deadline can end the
// job; tests/gpu/cluster_checks.sh checks the exit, the time and the message.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <nccl.h>

#include "backend/cuda/cuda_backend.h"
#include "comm/nccl_comm.h"
#include "util/control.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const std::string mode = argc > 1 ? argv[1] : "broadcast";
  const int rank = sb::Control::rank();
  const auto silence = std::chrono::duration<double>(sb::Control::collective_timeout_s() + 120);
  try {
    if (mode == "init") {
      if (rank == 0) {
        sb::CudaBackend backend(0);
        auto comm = sb::make_nccl_comm(backend);
        fmt::print("rank 0: FAIL: the communicator was made without rank 1\n");
      } else {
        // Join the MPI broadcast of NCCL's unique id, then never call NCCL.
        sb::Control::broadcast_ints(std::vector<int64_t>(sizeof(ncclUniqueId) / sizeof(int64_t)), 0);
        std::this_thread::sleep_for(silence);
      }
    } else {
      sb::CudaBackend backend(sb::Control::local_rank());
      auto comm = sb::make_nccl_comm(backend);
      sb::Tensor buffer = backend.empty(sb::DType::F32, {1 << 20});
      comm->broadcast(buffer, 1);  // both ranks: the connection works
      backend.synchronize();
      sb::Control::barrier();
      fmt::print("rank {}: a broadcast with both ranks completed\n", rank);
      std::fflush(stdout);
      if (rank == 0) {
        comm->broadcast(buffer, 1);  // waits for rank 1's data, which never comes
        backend.synchronize();
        fmt::print("rank 0: FAIL: the broadcast completed without rank 1\n");
      } else {
        std::this_thread::sleep_for(silence);
      }
    }
  } catch (const std::exception& error) {
    fmt::print(stderr, "starbench: rank {}: error: {}\n", rank, error.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  MPI_Finalize();
  return 1;  // reaching this is the failure: the deadline should have ended the job
}
