#pragma once
// A sweep's progress: each run's work predicted from its plan before it runs
// (the FLOPs the backends will count), and the ETA that weights the runs left
// by that work, so a sweep over growing lengths does not say "ETA 0s" while
// most of its work is ahead.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "experiment/run_spec.h"
#include "model/config.h"

namespace sb {

// The phase-1 (context) work `rank` of a run's plan issues, as Backend::work()
// counts it: matmul FLOPs of the projections and MLP of every token the rank
// forwards (anchor rows included), attention FLOPs over the visible pairs of
// each attention call the method makes. Ranks that do not take part (global
// and duo on ranks > 0) issue none. A star + duo or duo run needs its pattern
// (spec.method.duo) for the per-kind head counts.
WorkCount expected_context_work(const ModelConfig& config, const RunSpec& spec, int rank);

// The whole run's expected work in FLOPs, what its wall time scales with:
// (warm-up + repeats) x (the busiest rank's phase-1 work + phase 2's: the
// query and each generated token through every layer, the LM head and the
// attention to the context the query rank holds).
double expected_run_work(const ModelConfig& config, const RunSpec& spec);

// Seconds left when `done_work` took `elapsed_s` and `remaining_work` is
// ahead, at the same pace; nullopt before any work is done.
std::optional<double> eta_seconds(double elapsed_s, double done_work, double remaining_work);

// Rank 0's account of a sweep's runs (indexed in sweep order): the work done,
// the work left, when the current run started. A run found in the results
// file is skipped: its work leaves the remaining without counting as done.
class SweepProgress {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  SweepProgress() = default;
  // `work`: each run's expected work (expected_run_work); `clock` for tests.
  explicit SweepProgress(std::vector<double> work, Clock clock = {});

  size_t runs() const { return work_.size(); }
  // A better estimate once the run's input is known (task runs: the prompt's length).
  void update(size_t index, double work);
  void begin(size_t index);
  void end(size_t index);
  void skip(size_t index);
  // Seconds since the current run began.
  double run_seconds() const;
  // The run's expected seconds at the pace so far; nullopt before any run ended.
  std::optional<double> expected_seconds(size_t index) const;
  // Seconds left: the time the runs ended so far took, scaled by the work
  // left over theirs, less the time the run under way has been running;
  // nullopt before any run ended.
  std::optional<double> eta_s() const;
  // eta_s() as "3m07s", or "-".
  std::string eta() const;

 private:
  double now() const;

  std::vector<double> work_;
  std::vector<bool> settled_;  // ended or skipped
  double done_ = 0, remaining_ = 0;
  double start_s_ = 0, run_start_s_ = 0;
  double paced_s_ = 0;  // seconds from the start to the last run's end: the time `done_` took
  bool running_ = false;
  Clock clock_;
};

}  // namespace sb
