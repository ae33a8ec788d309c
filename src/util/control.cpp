#include "util/control.h"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include <fmt/core.h>

#include "util/check_mpi.h"
#include "util/error.h"

namespace sb {

// Polls a nonblocking collective until it completes or the deadline passes.
// A rank that died or took another code path would otherwise hang the job
// forever; here the job ends with a message naming the collective.
void wait_or_abort(MPI_Request& request, const char* what) {
  const double timeout_s = Control::collective_timeout_s();
  const auto start = std::chrono::steady_clock::now();
  int done = 0;
  auto sleep = std::chrono::microseconds(1);
  while (true) {
    MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > timeout_s) {
      fmt::print(stderr,
                 "starbench: rank {}: {} did not complete within {:.0f} s (another rank failed or diverged); "
                 "aborting the job (STARBENCH_COLLECTIVE_TIMEOUT_S sets the limit)\n",
                 Control::rank(), what, timeout_s);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    std::this_thread::sleep_for(sleep);
    if (sleep < std::chrono::microseconds(2000)) sleep *= 2;
  }
}

double Control::collective_timeout_s() {
  static const double timeout = [] {
    const char* text = std::getenv("STARBENCH_COLLECTIVE_TIMEOUT_S");
    double value = text ? std::atof(text) : 0.0;
    return value > 0 ? value : 600.0;
  }();
  return timeout;
}

int Control::rank() {
  int value = 0;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &value));
  return value;
}

int Control::size() {
  int value = 1;
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &value));
  return value;
}

int Control::local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "LOCAL_RANK"}) {
    if (const char* text = std::getenv(name)) return std::atoi(text);
  }
  MPI_Comm node_comm;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &node_comm));
  int value = 0;
  MPI_CHECK(MPI_Comm_rank(node_comm, &value));
  MPI_CHECK(MPI_Comm_free(&node_comm));
  return value;
}

std::string Control::host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name[0] ? name : "localhost";
}

std::vector<int> Control::node_ranks() {
  MPI_Comm node_comm;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &node_comm));
  int node_size = 1;
  MPI_CHECK(MPI_Comm_size(node_comm, &node_size));
  std::vector<int> ranks(size_t(node_size), 0);
  int mine = rank();
  MPI_Request request;
  MPI_CHECK(MPI_Iallgather(&mine, 1, MPI_INT, ranks.data(), 1, MPI_INT, node_comm, &request));
  wait_or_abort(request, "allgather(node ranks)");
  MPI_CHECK(MPI_Comm_free(&node_comm));
  return ranks;
}

void Control::barrier() {
  MPI_Request request;
  MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &request));
  wait_or_abort(request, "barrier");
}

void Control::agree(bool ok, const std::string& message) {
  // Lowest failing rank, or size() when every rank is fine.
  int my_vote = ok ? size() : rank();
  int first_failed = 0;
  MPI_Request request;
  MPI_CHECK(MPI_Iallreduce(&my_vote, &first_failed, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "error agreement");
  if (first_failed == size()) return;
  std::string text = broadcast_string(message, first_failed);
  throw CollectiveError(text);
}

double Control::max(double value) {
  double result = 0;
  MPI_Request request;
  MPI_CHECK(MPI_Iallreduce(&value, &result, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "allreduce(max)");
  return result;
}

double Control::sum(double value) {
  double result = 0;
  MPI_Request request;
  MPI_CHECK(MPI_Iallreduce(&value, &result, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "allreduce(sum)");
  return result;
}

std::vector<double> Control::gather_all(double value) {
  std::vector<double> values(size());
  MPI_Request request;
  MPI_CHECK(MPI_Iallgather(&value, 1, MPI_DOUBLE, values.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "allgather");
  return values;
}

std::vector<std::string> Control::gather_all_strings(const std::string& value) {
  int length = int(value.size());
  std::vector<int> lengths(size_t(size()), 0);
  MPI_Request request;
  MPI_CHECK(MPI_Iallgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "allgather(string lengths)");
  std::vector<int> offsets(lengths.size(), 0);
  for (size_t r = 1; r < lengths.size(); ++r) offsets[r] = offsets[r - 1] + lengths[r - 1];
  std::string all(size_t(offsets.back() + lengths.back()), '\0');
  MPI_CHECK(MPI_Iallgatherv(value.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                            MPI_COMM_WORLD, &request));
  wait_or_abort(request, "allgather(strings)");
  std::vector<std::string> values;
  for (size_t r = 0; r < lengths.size(); ++r) values.push_back(all.substr(size_t(offsets[r]), size_t(lengths[r])));
  return values;
}

std::string Control::broadcast_string(const std::string& value, int root) {
  int64_t length = int64_t(value.size());
  MPI_Request request;
  MPI_CHECK(MPI_Ibcast(&length, 1, MPI_INT64_T, root, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "broadcast(length)");
  std::string result = rank() == root ? value : std::string(size_t(length), '\0');
  if (length > 0) {
    MPI_CHECK(MPI_Ibcast(result.data(), int(length), MPI_CHAR, root, MPI_COMM_WORLD, &request));
    wait_or_abort(request, "broadcast(string)");
  }
  return result;
}

std::vector<int64_t> Control::broadcast_ints(std::vector<int64_t> values, int root) {
  int64_t count = int64_t(values.size());
  MPI_Request request;
  MPI_CHECK(MPI_Ibcast(&count, 1, MPI_INT64_T, root, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "broadcast(count)");
  values.resize(size_t(count));
  if (count > 0) {
    MPI_CHECK(MPI_Ibcast(values.data(), int(count), MPI_INT64_T, root, MPI_COMM_WORLD, &request));
    wait_or_abort(request, "broadcast(ints)");
  }
  return values;
}

}  // namespace sb
