#include "util/control.h"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
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

namespace {

Control::PlaneLookup plane_lookup = nullptr;

ControlPlane* plane() { return plane_lookup ? plane_lookup() : nullptr; }

std::string to_bytes(const void* data, size_t size) { return std::string(static_cast<const char*>(data), size); }

template <typename T>
std::vector<T> from_bytes(const std::string& bytes) {
  std::vector<T> values(bytes.size() / sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), bytes.data(), values.size() * sizeof(T));
  return values;
}

std::vector<double> plane_gather_doubles(ControlPlane& control, double value) {
  std::vector<double> values;
  for (const std::string& bytes : control.all_gather(to_bytes(&value, sizeof value))) {
    values.push_back(from_bytes<double>(bytes).at(0));
  }
  return values;
}

}  // namespace

void Control::set_plane_lookup(PlaneLookup lookup) { plane_lookup = lookup; }

double Control::collective_timeout_s() {
  static const double timeout = [] {
    const char* text = std::getenv("STARBENCH_COLLECTIVE_TIMEOUT_S");
    double value = text ? std::atof(text) : 0.0;
    return value > 0 ? value : 600.0;
  }();
  return timeout;
}

int Control::rank() {
  if (ControlPlane* control = plane()) return control->rank();
  int value = 0;
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &value));
  return value;
}

int Control::size() {
  if (ControlPlane* control = plane()) return control->size();
  int value = 1;
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &value));
  return value;
}

int Control::local_rank() {
  if (ControlPlane* control = plane()) return control->local_rank();
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
  if (ControlPlane* control = plane(); control && !control->host_name().empty()) return control->host_name();
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
  if (ControlPlane* control = plane()) return control->barrier();
  MPI_Request request;
  MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &request));
  wait_or_abort(request, "barrier");
}

void Control::agree(bool ok, const std::string& message) {
  if (ControlPlane* control = plane()) {
    // Each rank sends "" (fine) or "!" + its message; the lowest failing rank's wins.
    for (const std::string& vote : control->all_gather(ok ? std::string() : "!" + message)) {
      if (!vote.empty()) throw CollectiveError(vote.substr(1));
    }
    return;
  }
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
  if (ControlPlane* control = plane()) {
    std::vector<double> values = plane_gather_doubles(*control, value);
    return *std::max_element(values.begin(), values.end());
  }
  double result = 0;
  MPI_Request request;
  MPI_CHECK(MPI_Iallreduce(&value, &result, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "allreduce(max)");
  return result;
}

double Control::sum(double value) {
  if (ControlPlane* control = plane()) {
    double total = 0;
    for (double each : plane_gather_doubles(*control, value)) total += each;
    return total;
  }
  double result = 0;
  MPI_Request request;
  MPI_CHECK(MPI_Iallreduce(&value, &result, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "allreduce(sum)");
  return result;
}

std::vector<double> Control::gather_all(double value) {
  if (ControlPlane* control = plane()) return plane_gather_doubles(*control, value);
  std::vector<double> values(size());
  MPI_Request request;
  MPI_CHECK(MPI_Iallgather(&value, 1, MPI_DOUBLE, values.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD, &request));
  wait_or_abort(request, "allgather");
  return values;
}

std::vector<std::string> Control::gather_all_strings(const std::string& value) {
  if (ControlPlane* control = plane()) return control->all_gather(value);  // the simulator's ranks
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
  if (ControlPlane* control = plane()) return control->all_gather(control->rank() == root ? value : std::string()).at(size_t(root));
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
  if (ControlPlane* control = plane()) {
    const std::string mine = control->rank() == root ? to_bytes(values.data(), values.size() * sizeof(int64_t)) : "";
    return from_bytes<int64_t>(control->all_gather(mine).at(size_t(root)));
  }
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
