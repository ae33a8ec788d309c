#include "experiment/run_identity.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "attention/apb_compressor.h"
#include "attention/method.h"
#include "backend/backend.h"
#include "experiment/sweep_settings.h"
#include "model/config.h"
#include "model/weight_digest.h"
#include "tasks/task_file.h"
#include "tasks/tasks.h"
#include "util/control.h"
#include "util/error.h"
#include "util/file_digest.h"
#include "util/sha256.h"

namespace sb {
namespace {

constexpr const char* kIdentityFormat = "starbench-identity/1";
constexpr const char* kSummaryIdentityFormat = "starbench-summary-identity/1";

// A task input read by the generator, which says in its own words why it
// cannot be read: here it is only recorded as unreadable.
std::string optional_file_digest(const std::string& path) {
  try {
    return file_sha256(path);
  } catch (const Error&) {
    return "unreadable";
  }
}

bool sweep_has_task(const SweepSettings& settings, bool (*uses)(const std::string&)) {
  return std::any_of(settings.tasks.begin(), settings.tasks.end(), uses);
}

// The pattern's heads as applied: which KV heads stream, with the window.
std::string duo_heads_digest(const DuoPattern& duo) {
  Sha256 hash;
  hash.update(fmt::format("layers={};kv_heads={};sink={};recent={};retrieval=", duo.num_layers, duo.num_kv_heads,
                          duo.sink, duo.recent));
  for (uint8_t retrieval : duo.retrieval) hash.update(retrieval ? "1" : "0");
  return hash.finish_hex();
}

}  // namespace

std::string task_tokenizer_path(const SweepSettings& settings) {
  if (!settings.tokenizer.empty()) return settings.tokenizer;
  if (settings.model.model_dir.empty()) return "";
  return (std::filesystem::path(settings.model.model_dir) / "tokenizer.json").string();
}

IdentityInputs identity_inputs(const SweepSettings& settings, const ModelConfig& config, const RunContext& context,
                               const Backend& backend) {
  IdentityInputs inputs;
  inputs.placement = context.placement;
  inputs.job_world_size = context.job_world_size;
  std::string problem;
  if (Control::is_root()) {
    const auto start = std::chrono::steady_clock::now();
    try {
      const ModelDigest model = settings.model.model_dir.empty()
                                    ? synthetic_weights_digest(config, settings.model.preset, settings.model.weight_seed)
                                    : checkpoint_digest(settings.model.model_dir);
      inputs.model_digest = model.sha256;
      inputs.model_weights = model.description;
      if (settings.model.model_dir.empty()) inputs.weight_seed = int64_t(settings.model.weight_seed);
      inputs.backend_inputs = backend.input_digests();
      if (!settings.tasks.empty() || !settings.task_file.empty()) {
        inputs.tasks = true;
        inputs.tokenizer_digest = file_sha256(task_tokenizer_path(settings));
        if (sweep_has_task(settings, task_uses_word_list)) {
          inputs.words_path = settings.words_path;
          inputs.words_digest = optional_file_digest(settings.words_path);
        }
        auto is_qa1 = [](const std::string& task) { return task == "qa_1"; };
        auto is_qa2 = [](const std::string& task) { return task == "qa_2"; };
        if (sweep_has_task(settings, is_qa1)) inputs.squad_digest = optional_file_digest(settings.squad_path);
        if (sweep_has_task(settings, is_qa2)) inputs.hotpot_digest = optional_file_digest(settings.hotpot_path);
        if (!settings.task_file.empty()) inputs.task_file_digest = file_sha256(settings.task_file);
        inputs.task_samples = settings.samples;
        inputs.chat_template = settings.chat_template;
      }
    } catch (const Error& error) {
      problem = fmt::format("the inputs' digests for the runs' identity: {}", error.what());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (problem.empty() && seconds > 1.0)
      fmt::print(stderr, "starbench: inputs digested for the runs' identity in {:.1f} s (model: {})\n", seconds,
                 inputs.model_weights);
  }
  Control::agree(problem.empty(), problem);
  return inputs;
}

std::vector<std::pair<std::string, std::string>> identity_components(const RunSpec& spec,
                                                                     const IdentityInputs& inputs) {
  std::vector<std::pair<std::string, std::string>> components = {{"model_digest", inputs.model_digest}};
  const int participants = runs_on_one_rank(spec.method.method) ? 1 : inputs.job_world_size;
  if (std::string libraries = library_versions(inputs.placement, participants); !libraries.empty())
    components.emplace_back("library_versions", libraries);
  for (const auto& entry : inputs.backend_inputs) components.push_back(entry);
  if (spec.method.duo) components.emplace_back("duo_heads_digest", duo_heads_digest(*spec.method.duo));
  if (spec.method.method == Method::Apb && spec.method.apb.compressor) {
    components.emplace_back("apb_compressor_digest", spec.method.apb.compressor->digest());
  }
  if (!spec.task.empty()) {
    components.emplace_back("tokenizer_digest", inputs.tokenizer_digest);
    if (is_task_file_task(spec.task)) components.emplace_back("task_file_digest", inputs.task_file_digest);
    if (task_uses_word_list(spec.task)) components.emplace_back("words_digest", inputs.words_digest);
    if (spec.task == "qa_1") components.emplace_back("squad_digest", inputs.squad_digest);
    if (spec.task == "qa_2") components.emplace_back("hotpot_digest", inputs.hotpot_digest);
    components.emplace_back("task_samples", std::to_string(inputs.task_samples));
    components.emplace_back("chat_template", inputs.chat_template ? "1" : "0");
  }
  return components;
}

std::string identity_of(const std::string& params_key, const RunSpec& spec, const IdentityInputs& inputs) {
  Sha256 hash;
  hash.update(kIdentityFormat).update("\nparams_key=").update(params_key).update("\n");
  for (const auto& [name, value] : identity_components(spec, inputs)) hash.update(name + "=" + value + "\n");
  return hash.finish_hex();
}

std::string summary_identity(const std::string& params_key, const std::vector<std::string>& sample_identities) {
  Sha256 hash;
  hash.update(kSummaryIdentityFormat).update("\nparams_key=").update(params_key).update("\n");
  for (const std::string& sample : sample_identities) hash.update("sample=" + sample + "\n");
  return hash.finish_hex();
}

void add_identity(RunRecord& record, const std::string& params_key, const RunSpec& spec,
                  const IdentityInputs& inputs) {
  record.text["identity"] = identity_of(params_key, spec, inputs);
  for (const auto& [name, value] : identity_components(spec, inputs)) {
    if (name == "library_versions") continue;  // add_placement records it
    if (name == "task_samples" || name == "chat_template") {
      record.integers[name] = std::stoll(value);
    } else {
      record.text[name] = value;
    }
  }
  record.text["model_weights"] = inputs.model_weights;
  if (inputs.weight_seed >= 0) record.integers["weight_seed"] = inputs.weight_seed;
  if (!spec.task.empty() && task_uses_word_list(spec.task)) record.text["words"] = inputs.words_path;
}

ResumeIndex::ResumeIndex(const ResultsStore& store) : store_(store) {
  by_identity_ = store.runs_by_attribute("identity");
  std::set<std::string> identified;
  for (const auto& [identity, ids] : by_identity_) identified.insert(ids.begin(), ids.end());
  std::map<std::string, std::string> block_rule_of;  // run id -> its block_rule attribute (star runs)
  for (const auto& [rule, ids] : store.runs_by_attribute(kBlockRuleKey))
    for (const std::string& id : ids) block_rule_of[id] = rule;
  for (const auto& [key, ids] : store.runs_by_params_key()) {
    for (const std::string& id : ids) {
      const auto rule = block_rule_of.find(id);
      // A star run keyed before keys named the block rule: its identity digests
      // that older key, so it can never match; counted under today's key.
      const std::string current = rule == block_rule_of.end() ? key : star_key_with_block_rule(key, rule->second);
      if (!identified.count(id)) {
        older_by_key_[current].push_back({id, Older::NoIdentity});
      } else if (current != key) {
        older_by_key_[current].push_back({id, Older::StarKeyWithoutRule});
      }
    }
  }
}

std::optional<RunRecord> ResumeIndex::reusable(const std::string& identity, const std::string& params_key,
                                               bool count_older) {
  if (const auto found = by_identity_.find(identity); found != by_identity_.end()) {
    for (auto id = found->second.rbegin(); id != found->second.rend(); ++id) {
      std::string problem;
      try {
        RunRecord record = store_.read(*id);
        problem = reference_outputs_problem(record);
        if (problem.empty()) return record;
      } catch (const Error& error) {
        problem = error.what();
      }
      if (std::find(reported_damaged_.begin(), reported_damaged_.end(), *id) == reported_damaged_.end()) {
        reported_damaged_.push_back(*id);
        fmt::print(stderr, "resume: stored run {} is damaged, so it is not reused: the run is measured again ({})\n",
                   *id, problem);
      }
    }
  }
  if (count_older) {
    if (const auto older = older_by_key_.find(params_key); older != older_by_key_.end()) {
      for (const auto& [id, why] : older->second) {
        std::vector<std::string>& counted = older_not_reused_[size_t(why)];
        if (std::find(counted.begin(), counted.end(), id) == counted.end()) counted.push_back(id);
      }
    }
  }
  return std::nullopt;
}

int ResumeIndex::older_runs_not_reused() const {
  return int(older_not_reused_[0].size() + older_not_reused_[1].size());
}

void ResumeIndex::report() const {
  if (const auto& runs = older_not_reused_[size_t(Older::NoIdentity)]; !runs.empty()) {
    fmt::print(stderr,
               "resume: {} run(s) in {} with these settings were written before runs carried an identity (no "
               "'identity' attribute), so they were not reused: their runs were measured again and appended beside "
               "them (docs/HDF5_SCHEMA.md, \"Run identity\")\n",
               runs.size(), store_.path());
  }
  if (const auto& runs = older_not_reused_[size_t(Older::StarKeyWithoutRule)]; !runs.empty()) {
    fmt::print(stderr,
               "resume: {} star run(s) in {} with these settings were written before star runs' keys named the "
               "block rule (no ';block_rule=' in params_key), so they were not reused: their runs were measured "
               "again and appended beside them (docs/HDF5_SCHEMA.md, \"Run identity\")\n",
               runs.size(), store_.path());
  }
}

}  // namespace sb
