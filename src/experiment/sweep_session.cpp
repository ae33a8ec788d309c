#include "experiment/sweep_session.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/core.h>

#include "comm/comm_factory.h"
#include "experiment/host_setup.h"
#include "experiment/model_loader.h"
#include "util/control.h"
#include "util/duration.h"
#include "util/error.h"

namespace sb {
namespace {

bool holds_reference_outputs(const RunRecord& record) {
  return std::any_of(record.arrays.begin(), record.arrays.end(),
                     [](const RunRecord::Array& array) { return array.path == "reference/query_logits"; });
}

// Seconds into a run after which each repeat prints a line (STARBENCH_PROGRESS_AFTER_S, default 10).
double repeat_lines_after_s() {
  const char* text = std::getenv("STARBENCH_PROGRESS_AFTER_S");
  if (text == nullptr || *text == '\0') return 10.0;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  SB_REQUIRE(end != text && *end == '\0' && seconds >= 0,
             "STARBENCH_PROGRESS_AFTER_S='{}' is not a number of seconds >= 0", text);
  return seconds;
}

}  // namespace

SweepSession::SweepSession(const SweepSettings& settings, const std::vector<Method>& methods,
                           const std::function<void(const ModelConfig&)>& check_model)
    : settings_(settings), root_(Control::is_root()), world_size_(Control::size()) {
  has_global_ = std::find(methods.begin(), methods.end(), Method::Global) != methods.end();
  repeat_lines_after_s_ = Control::agree_on([] { return repeat_lines_after_s(); });
  // Rank 0 alone writes HDF5; an unwritable path ends every rank here, before the model is loaded.
  Control::agree_on_root([&] { store_.emplace(ResultsStore::open(settings_.output)); });
  config_ = resolve_model_config(settings_.model);
  layout_ = resolve_host_layout(settings_.hosts, config_);
  duo_ = resolve_duo_pattern(settings_.duo, config_, methods);
  if (check_model) Control::agree_on_root([&] { check_model(config_); });
  backend_ = create_backend(settings_.backend);
  apb_compressor_ = resolve_apb_compressor(settings_.apb.compressor, config_, *backend_, methods);
}

void SweepSession::give_method_inputs(MethodSettings& method) const {
  if (method.method == Method::Duo || method.method == Method::Star) method.duo = duo_;
  if (method.method == Method::Apb) method.apb.compressor = apb_compressor_;
}

void SweepSession::start(const std::vector<RunSpec>& planned_runs) {
  // Refuse a grid that cannot fit before the weights are allocated.
  for (const RunSpec& spec : planned_runs) {
    check_memory_plan(config_, spec, *backend_, Transformer::kMlpChunkTokens, layout_.gpus_per_host,
                      max_gpus_per_host(*backend_), layout_.split);
  }
  HostModel host = load_host_model(settings_.model, config_, *backend_, layout_);
  model_ = std::move(host.model);
  comms_ = std::move(host.comms);
  runner_ = std::make_unique<Runner>(*model_, *comms_.between);
  context_.emplace(RunContext{config_.name, backend_->name(), backend_->device_name(), world_size_,
                              backend_->provenance(), !backend_->computes_values(), gather_placement(*backend_)});
  context_->hosts = layout_;
  inputs_ = identity_inputs(settings_, config_, *context_, *backend_);
  if (root_) {
    for (const auto& [key, ids] : store_->runs_by_params_key()) stored_runs_[key] = ids.back();
    resume_index_.emplace(*store_);  // resume matches on the runs' identity
    appender_.emplace(*store_);
  }
}

void SweepSession::plan_progress(std::vector<double> work, bool announce_every_start) {
  progress_ = SweepProgress(std::move(work));
  announce_every_start_ = announce_every_start;
}

void SweepSession::announce_start(const SweepRun& run) const {
  const std::optional<double> expected = progress_.expected_seconds(run.index);
  if (!announce_every_start_ && expected && *expected <= repeat_lines_after_s_) return;
  fmt::print(stderr, "[{}/{}] {} {}: started{}\n", run.index + 1, progress_.runs(), method_label(run.spec.method),
             run.what,
             expected && *expected >= 1
                 ? fmt::format(", about {} expected (ETA {})", format_duration(*expected), progress_.eta())
                 : std::string());
}

void SweepSession::report_repeat(const SweepRun& run, int iteration, int iterations, bool warmup) const {
  const double seconds = progress_.run_seconds();
  if (seconds <= repeat_lines_after_s_) return;
  const int warmups = run.spec.warmup;
  fmt::print(stderr, "[{}/{}] {} {}: {} {}/{} done, {} into the run (ETA {})\n", run.index + 1, progress_.runs(),
             method_label(run.spec.method), run.what, warmup ? "warm-up" : "repeat",
             warmup ? iteration + 1 : iteration + 1 - warmups, warmup ? warmups : iterations - warmups,
             format_duration(seconds), progress_.eta());
}

std::string SweepSession::key(const SweepRun& run) const { return params_key(run.spec, *context_) + run.key_suffix; }

std::string SweepSession::stored_run(const std::string& key) const {
  const auto found = stored_runs_.find(key);
  return found == stored_runs_.end() ? std::string() : found->second;
}

bool SweepSession::stored_summary(const std::string& identity, const std::string& key) {
  return resume_index_->reusable(identity, key).has_value();
}

void SweepSession::ensure_reference(const SweepRun& run, const std::vector<int32_t>& context,
                                    const std::vector<int32_t>& query) {
  SweepRun global = run;
  global.spec.method = MethodSettings{};
  global.spec.plan = plan_method(global.spec.method, run.spec.context_len, layout_.hosts);
  int64_t rerun = 0;
  if (root_ && backend_->computes_values() && !references_.count(run.input)) {
    // A global run stored by an earlier job (say, on one GPU) is the reference
    // too, when it holds its outputs (timing runs do; task samples do not).
    const std::string global_key = key(global);
    const std::optional<RunRecord> stored =
        resume_index_->reusable(identity_of(global_key, global.spec, inputs_), global_key, /*count_older=*/false);
    if (stored && holds_reference_outputs(*stored)) references_[run.input] = reference_outputs_from_record(*stored);
    rerun = !references_.count(run.input) && has_global_;
  }
  if (!Control::broadcast_ints({rerun}, 0).at(0)) return;
  global.spec.repeats = 1;
  global.spec.warmup = 0;
  RunOutcome outcome = runner_->run(global.spec, context, query);
  if (!root_) return;
  references_[run.input] = std::move(outcome);
  fmt::print(stderr, "[{}] global re-run (unrecorded) as the reference of a resumed sample\n", run.what);
}

SweepResult SweepSession::run(const SweepRun& run, const std::vector<int32_t>& context,
                              const std::vector<int32_t>& query) {
  SweepResult result;
  const std::string run_key = key(run);
  const std::string identity = root_ ? identity_of(run_key, run.spec, inputs_) : std::string();
  int64_t stored = 0;
  if (root_ && settings_.resume) {
    if (std::optional<RunRecord> found = resume_index_->reusable(identity, run_key)) {
      result.record = std::move(*found);
      stored = 1;
    }
  }
  result.stored = Control::broadcast_ints({stored}, 0).at(0) != 0;
  if (result.stored) {
    if (root_) progress_.skip(run.index);
    return result;
  }

  if (root_) {
    progress_.update(run.index, expected_run_work(config_, run.spec));  // its own input and plan
    announce_start(run);
    progress_.begin(run.index);
  }
  const bool global = run.spec.method.method == Method::Global;
  if (!global) ensure_reference(run, context, query);
  result.outcome = runner_->run(run.spec, context, query, [&](int iteration, int iterations, bool warmup) {
    if (root_) report_repeat(run, iteration, iterations, warmup);
  });
  if (!root_) return result;
  progress_.end(run.index);
  if (!backend_->computes_values()) {
    // Simulated: no values, so no fidelity to compute.
  } else if (global) {
    references_[run.input] = result.outcome;
  } else if (const auto found = references_.find(run.input); found != references_.end()) {
    const RunOutcome& reference = found->second;
    const RunOutcome& outcome = result.outcome;
    result.fidelity = compare_outputs(reference.query_logits, outcome.query_logits, outcome.vocab_size,
                                      reference.query_hidden, outcome.query_hidden, reference.generated,
                                      outcome.generated);
  }
  result.record = make_run_record(result.outcome, *context_, result.fidelity ? &*result.fidelity : nullptr);
  result.record.text["params_key"] = run_key;
  add_identity(result.record, run_key, run.spec, inputs_);
  return result;
}

void SweepSession::report_resume() const {
  if (root_) resume_index_->report();
}

}  // namespace sb
