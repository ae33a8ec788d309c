#include "experiment/sweep_session.h"

#include <algorithm>

#include <fmt/core.h>

#include "experiment/host_setup.h"
#include "experiment/model_loader.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

bool holds_reference_outputs(const RunRecord& record) {
  return std::any_of(record.arrays.begin(), record.arrays.end(),
                     [](const RunRecord::Array& array) { return array.path == "reference/query_logits"; });
}

}  // namespace

SweepSession::SweepSession(const SweepSettings& settings, const std::vector<Method>& methods,
                           const std::function<void(const ModelConfig&)>& check_model)
    : settings_(settings), root_(Control::is_root()), world_size_(Control::size()) {
  has_global_ = std::find(methods.begin(), methods.end(), Method::Global) != methods.end();
  // Rank 0 alone writes HDF5; an unwritable path ends every rank here, before the model is loaded.
  Control::agree_on_root([&] { store_.emplace(ResultsStore::open(settings_.output)); });
  config_ = resolve_model_config(settings_.model);
  layout_ = resolve_host_layout(settings_.hosts, config_);
  duo_ = resolve_duo_pattern(settings_.duo, config_, methods);
  if (check_model) Control::agree_on_root([&] { check_model(config_); });
  backend_ = create_backend(settings_.backend);
}

void SweepSession::give_duo(MethodSettings& method) const {
  if (method.method == Method::Duo || method.method == Method::Star) method.duo = duo_;
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
  start_ = std::chrono::steady_clock::now();
}

std::string SweepSession::key(const SweepRun& run) const { return params_key(run.spec, *context_) + run.key_suffix; }

std::string SweepSession::stored_run(const std::string& key) const {
  const auto found = stored_runs_.find(key);
  return found == stored_runs_.end() ? std::string() : found->second;
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
  if (result.stored) return result;

  const bool global = run.spec.method.method == Method::Global;
  if (!global) ensure_reference(run, context, query);
  result.outcome = runner_->run(run.spec, context, query);
  ++executed_;
  if (!root_) return result;
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

std::string SweepSession::eta(size_t remaining) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return format_duration(executed_ > 0 ? elapsed / double(executed_) * double(remaining) : 0.0);
}

}  // namespace sb
