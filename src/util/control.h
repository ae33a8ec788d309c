#pragma once
// The MPI control plane: rank/size, collective agreement on errors, and
// collectives with a deadline so that a rank that died or diverged ends the
// job with a message instead of a hang.
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "util/error.h"

namespace sb {

// A control plane other than MPI: the simulator runs every rank as a SimGrid
// actor in one process, and each actor's Control calls go to its plane. The
// primitives are few; Control builds the rest on them.
class ControlPlane {
 public:
  virtual ~ControlPlane() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;
  // The host the rank runs on as runs record it; "" for the machine's own name.
  virtual std::string host_name() const { return ""; }
  virtual void barrier() = 0;
  // Every rank contributes bytes; every rank gets all contributions, in rank order.
  virtual std::vector<std::string> all_gather(const std::string& bytes) = 0;
};

class Control {
 public:
  // The plane of the calling rank, or nullptr for MPI (the default). The
  // simulator installs a lookup while it runs.
  using PlaneLookup = ControlPlane* (*)();
  static void set_plane_lookup(PlaneLookup lookup);

  // Deadline for any collective wait, seconds (env STARBENCH_COLLECTIVE_TIMEOUT_S, default 600).
  static double collective_timeout_s();

  static int rank();
  static int size();
  static int local_rank();  // from OMPI_COMM_WORLD_LOCAL_RANK / SLURM_LOCALID / MPI split
  static bool is_root() { return rank() == 0; }
  static std::string host_name();
  // Collective: the world ranks that share this rank's node (its shared-memory
  // domain), in rank order.
  static std::vector<int> node_ranks();

  static void barrier();
  // Every rank passes its own ok/message; if any rank failed, every rank throws
  // sb::Error with the first failing rank's message.
  static void agree(bool ok, const std::string& message);
  // Collective: runs fn on this rank; an sb::Error it raises on any rank ends
  // every rank with the same CollectiveError (the first failing rank's message).
  // Returns fn's result.
  template <typename Fn>
  static auto agree_on(Fn&& fn) -> std::invoke_result_t<Fn&>;
  // Collective: runs fn (void) on rank 0 alone, its sb::Error agreed as above.
  template <typename Fn>
  static void agree_on_root(Fn&& fn);
  static double max(double value);
  static double sum(double value);
  static std::vector<double> gather_all(double value);  // every rank gets every value
  static std::vector<std::string> gather_all_strings(const std::string& value);
  static std::string broadcast_string(const std::string& value, int root);
  static std::vector<int64_t> broadcast_ints(std::vector<int64_t> values, int root);
};

template <typename Fn>
auto Control::agree_on(Fn&& fn) -> std::invoke_result_t<Fn&> {
  using Result = std::invoke_result_t<Fn&>;
  std::string problem;
  if constexpr (std::is_void_v<Result>) {
    try {
      fn();
    } catch (const Error& error) {
      problem = error.what();
    }
    agree(problem.empty(), problem);
  } else {
    std::optional<Result> result;
    try {
      result.emplace(fn());
    } catch (const Error& error) {
      problem = error.what();
    }
    agree(problem.empty(), problem);
    return std::move(*result);
  }
}

template <typename Fn>
void Control::agree_on_root(Fn&& fn) {
  agree_on([&] {
    if (is_root()) fn();
  });
}

}  // namespace sb
