#pragma once
// What every sweep (timing runs, task runs) sets up and does per run, written
// once: the results store (rank 0), the model's config and DuoAttention
// pattern, the backend, the memory plan, the model, the comm and runner, the
// record's context, the runs already stored (read once), global's outputs per
// input (the fidelity reference) and progress. A sweep driver makes its runs'
// inputs and keys, and what it does with their outcomes (the table, scores).
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "comm/host_layout.h"
#include "experiment/fidelity.h"
#include "experiment/progress.h"
#include "experiment/record.h"
#include "experiment/run_identity.h"
#include "experiment/runner.h"
#include "experiment/sweep_settings.h"
#include "io/paced_appender.h"
#include "io/results_store.h"

namespace sb {

// One run of a sweep.
struct SweepRun {
  RunSpec spec;
  std::string key_suffix;  // after params_key (task runs: their target length)
  std::string input;       // runs of one input share global's outputs as their reference
  std::string what;        // the input in messages ("niah_single_1 4096 sample 3")
  size_t index = 0;        // in the sweep's order (progress lines, the ETA)
};

// What became of a run on rank 0: found in the store (resume), or run, with
// its fidelity to global's outputs on the same input and its record (appended
// by the driver, which may add to it). Other ranks get `stored` only.
struct SweepResult {
  bool stored = false;  // rank 0: `record` is the stored run (checksums verified)
  RunOutcome outcome;
  std::optional<Fidelity> fidelity;
  RunRecord record;
};

class SweepSession {
 public:
  // Collective: opens the results store on rank 0, resolves the model's config,
  // the host layout and the duo pattern (refused unless a method of `methods`
  // uses it), runs `check_model` on rank 0 (sb::Error ends every rank), creates
  // the backend.
  SweepSession(const SweepSettings& settings, const std::vector<Method>& methods,
               const std::function<void(const ModelConfig&)>& check_model = {});
  // Gives what the session loaded once to the methods that use it: the duo
  // pattern (duo, star: star + duo), the APB compressor (apb).
  void give_method_inputs(MethodSettings& method) const;
  // Collective: refuses runs whose memory plan does not fit (before the
  // weights are allocated), loads this GPU's shard of the model, makes the
  // communicators and runner, gathers the placement and reads the stored runs'
  // keys on rank 0.
  void start(const std::vector<RunSpec>& planned_runs);

  const ModelConfig& config() const { return config_; }
  // The job's hosts (--gpus-per-host over its ranks): the methods' plans are for layout().hosts.
  const HostLayout& layout() const { return layout_; }
  Backend& backend() { return *backend_; }
  const RunContext& context() const { return *context_; }
  const std::string& output() const { return settings_.output; }
  bool root() const { return root_; }
  // The run's params_key (readable; its identity digest adds the inputs' digests).
  std::string key(const SweepRun& run) const;
  // Rank 0: the last stored record with this params_key, or "" (a hint for the
  // progress plan: resume itself matches identities).
  std::string stored_run(const std::string& key) const;
  // Rank 0: whether the file holds an intact task summary of this identity
  // (summary_identity); older summaries of this key (no identity) are counted
  // as not reused (report_resume).
  bool stored_summary(const std::string& identity, const std::string& key);
  // Rank 0: says how many runs of older files (no identity) were not reused.
  void report_resume() const;

  // Collective: skips a run the store holds (unless --no-resume), else runs it;
  // a run that is not global's is compared with global's outputs on its input
  // (this sweep's global run, a stored one with its outputs, or, when global
  // is in the sweep, global re-run unrecorded). Rank 0 gets the record.
  SweepResult run(const SweepRun& run, const std::vector<int32_t>& context, const std::vector<int32_t>& query);
  // Drops the references kept so far (a task sweep's samples are many).
  void forget_references() { references_.clear(); }

  // Rank 0: commits a record now (timing runs) or queued in paced batches (task
  // runs: thousands of small records), flushed by flush().
  std::string append(RunRecord record) { return store_->append(std::move(record)); }
  void append_paced(RunRecord record) { appender_->add(std::move(record)); }
  void flush() { appender_->flush(); }
  // Rank 0: the sweep's runs' expected work in order (expected_run_work; 0 for
  // a run the store holds), once before the first run; each run is estimated
  // again from its own spec as it starts (task runs: their prompt's length); `announce_every_start`:
  // a line when each run starts, else only when a run is expected to take
  // longer than a repeat line's threshold (task sweeps: many short runs).
  void plan_progress(std::vector<double> work, bool announce_every_start);
  // "3m07s": the work left at the pace of the work done so far.
  std::string eta() const { return progress_.eta(); }

 private:
  void ensure_reference(const SweepRun& run, const std::vector<int32_t>& context, const std::vector<int32_t>& query);
  // Rank 0's progress lines: a run starting, a repeat of a long run done.
  void announce_start(const SweepRun& run) const;
  void report_repeat(const SweepRun& run, int iteration, int iterations, bool warmup) const;

  const SweepSettings& settings_;
  const bool root_;
  const int world_size_;
  bool has_global_ = false;
  std::optional<ResultsStore> store_;
  ModelConfig config_;
  std::shared_ptr<const DuoPattern> duo_;
  std::shared_ptr<const ApbCompressor> apb_compressor_;
  HostLayout layout_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Transformer> model_;
  HostComms comms_;  // between hosts (the methods'), inside this rank's host
  std::unique_ptr<Runner> runner_;
  std::optional<RunContext> context_;
  std::map<std::string, std::string> stored_runs_;  // params_key -> run id (the last)
  IdentityInputs inputs_;                           // the inputs' digests, taken once (rank 0)
  std::optional<ResumeIndex> resume_index_;         // stored runs by identity (rank 0)
  std::optional<PacedAppender> appender_;
  std::map<std::string, RunOutcome> references_;    // input -> global's outputs on it
  SweepProgress progress_;
  bool announce_every_start_ = true;
  double repeat_lines_after_s_ = 10;  // STARBENCH_PROGRESS_AFTER_S
};

}  // namespace sb
