// Accuracy runs: RULER-style samples sized with the real tokenizer, or a user's
// own samples (--task-file), every method on the same samples, scored as RULER
// (or BABILong) does, with per-task accuracy and its ratio to global stored
// next to the per-sample records.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/core.h>

#include "experiment/progress.h"
#include "experiment/record.h"
#include "experiment/sweep.h"
#include "experiment/sweep_session.h"
#include "metrics/task_metric.h"
#include "tasks/task_file.h"
#include "tasks/task_prompt.h"
#include "tasks/tasks.h"
#include "tokenizer/tokenizer.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

std::vector<int64_t> to_int64(const std::vector<int32_t>& ids) { return {ids.begin(), ids.end()}; }
std::vector<int32_t> to_int32(const std::vector<int64_t>& ids) { return {ids.begin(), ids.end()}; }

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : " | ") + item;
  return text;
}

// The answer: generated tokens up to the first end-of-sequence token.
std::vector<int32_t> answer_tokens(const std::vector<int64_t>& generated, const ModelConfig& config) {
  std::vector<int32_t> answer;
  for (int64_t token : generated) {
    if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) != config.eos_token_ids.end()) {
      break;
    }
    answer.push_back(int32_t(token));
  }
  return answer;
}

double mean_percent(const std::vector<double>& values) {
  double total = 0;
  for (double value : values) total += value;
  return values.empty() ? NAN : 100.0 * total / double(values.size());
}

struct SummaryRow {
  std::string task, label;
  int64_t seq_len;
  double accuracy, ratio;
  int samples;
};

// The samples every method runs together: one generated task at one length, or
// a user's file (its prompts keep their own lengths).
struct SampleGroup {
  std::string task;           // a generated task, or "file:<stem>"
  int64_t target_tokens = 0;  // 0 for a task file
  int64_t answer_budget = 0;  // tokens generated per answer
  int count = 0;              // samples (every rank knows it)
  std::optional<TaskMetric> metric;  // a task file's; generated samples name their own
  // The key part that tells the group's runs apart: the target length (and a
  // task file's metric, which decides the scores).
  std::string key_suffix() const {
    return fmt::format(";target={}", target_tokens) + (metric ? ";metric=" + metric->name() : std::string());
  }
};

// Fidelity to global's outputs on the same sample, as the sample records hold it.
constexpr const char* kFidelityNumbers[] = {"kl_vs_global", "top1_vs_global", "gen_agree_vs_global",
                                            "hidden_rel_err_vs_global"};

// What one method's runs on a sample group give its summary (rank 0).
struct MethodSamples {
  std::vector<double> scores;
  std::vector<std::string> identities;                  // the sample runs' identities, in order
  std::map<std::string, std::vector<double>> fidelity;  // kFidelityNumbers -> per sample that has one

  void add(const RunRecord& record) {
    scores.push_back(record.numbers.at("score"));
    identities.push_back(record.text.at("identity"));
    for (const char* name : kFidelityNumbers) {
      if (const auto found = record.numbers.find(name); found != record.numbers.end()) fidelity[name].push_back(found->second);
    }
  }
};

double mean(const std::vector<double>& values) { return mean_percent(values) / 100.0; }

// Per-task accuracy (RULER: mean score x 100) of every method on one group, and
// its ratio to global's, and the mean fidelity to global over the samples that
// were compared with it; the summary records not already in the file (one of
// this identity: the same key and samples). `seq_len`: the target length, or a
// task file's longest prompt; star's block rule is resolved at it.
void summarise(SweepSession& session, const SweepSettings& settings, const std::vector<MethodSettings>& variants,
               const SampleGroup& group, int64_t seq_len, std::map<std::string, MethodSamples>& samples,
               std::vector<SummaryRow>& rows, std::vector<RunRecord>& summaries) {
  const auto global_samples = samples.find(method_label(MethodSettings{}));
  const double global_accuracy = global_samples == samples.end() ? NAN : mean_percent(global_samples->second.scores);
  const RunContext& context = session.context();
  for (const MethodSettings& variant : variants) {
    const std::string label = method_label(variant);
    const MethodSamples& runs = samples[label];
    const double accuracy = mean_percent(runs.scores);
    const double ratio = global_accuracy > 0 ? accuracy / global_accuracy : NAN;
    const int ranks = ranks_of_run(RunSpec{variant}, context);
    rows.push_back({group.task, label, seq_len, accuracy, ratio, int(runs.scores.size())});
    RunRecord summary;
    summary.text = {{"kind", "task_summary"}, {"task", group.task},
                    {"method", setting_name(variant.method)}, {"label", label},
                    {"model", session.config().name}, {"backend", context.backend}, {"device", context.device}};
    const std::string key =
        fmt::format("summary;model={};backend={};task={};target={};method={};samples={};seed={};ranks={}",
                    session.config().name, context.backend, group.task, group.target_tokens, label, settings.samples,
                    settings.seed, ranks) +
        (group.metric ? ";metric=" + group.metric->name() : std::string()) + duo_params_key(variant.duo.get()) +
        (variant.method == Method::Apb ? ";apb_compressor=" + variant.apb.source.label() : std::string()) +
        // Hosts of several GPUs are other runs (one-GPU hosts keep their keys).
        (context.hosts.gpus_per_host > 1 ? fmt::format(";gpus_per_host={};host_split={}", context.hosts.gpus_per_host,
                                                       host_split_name(context.hosts.split))
                                         : std::string()) +
        hardware_key_suffix(context, ranks);  // the device and node layout, as every run's key ends
    summary.text["params_key"] = key;
    summary.text["identity"] = summary_identity(key, runs.identities);
    const bool star = variant.method == Method::Star;
    // Star's block as its runs of a prompt of seq_len tokens have it (the rule
    // resolved there), the anchor likewise (-1: the block), and the rule.
    const int64_t block = star ? variant.block_rule.resolve(seq_len, session.layout().hosts) : 0;
    if (star) {  // the settings its runs record (make_run_record), so that the tables group them alike
      summary.text["block_rule"] = variant.block_rule.label();
      summary.text["anchor_source"] = setting_name(variant.anchor_source);
      summary.text["anchor_positions"] = setting_name(variant.anchor_positions);
      summary.text["anchor_mode"] = setting_name(resolve_anchor_mode(variant));
    }
    if (variant.method == Method::Ring) summary.text["ring_layout"] = setting_name(variant.ring_layout);
    summary.integers = {{"seq_len", seq_len},
                        {"samples", int64_t(runs.scores.size())},
                        {"block_size", block},
                        {"anchor_size", star ? (variant.anchor_size < 0 ? block : variant.anchor_size) : 0},
                        {"world_size", ranks},
                        {"gpus_per_host", context.hosts.gpus_per_host},
                        {"host_count", ranks / context.hosts.gpus_per_host}};
    summary.text["host_split"] = host_split_name(context.hosts.split);
    add_placement(summary, context.placement, ranks);
    summary.numbers = {{"accuracy", accuracy}, {"accuracy_ratio_vs_global", ratio}};
    for (const auto& [name, values] : runs.fidelity) summary.numbers[name] = mean(values);
    if (const auto compared = runs.fidelity.find("top1_vs_global"); compared != runs.fidelity.end())
      summary.integers["fidelity_samples"] = int64_t(compared->second.size());
    if (group.metric) summary.text["metric"] = group.metric->name();
    if (!session.stored_summary(summary.text["identity"], key)) summaries.push_back(std::move(summary));
  }
}

// Each task run's expected work before its sample exists, in sweep order
// (task x length x sample x method): its target length as the context, no
// query yet, the task's answer budget; replaced by the run's own once its
// prompt is tokenized. A length a method cannot plan counts as global's.
// Each run's expected work, in sweep order, for the progress ETA (rank 0). A
// task file's prompts are not tokenized yet: their length is estimated at 4
// bytes per token.
std::vector<double> planned_task_work(const SweepSettings& settings, const std::vector<SampleGroup>& groups,
                                      const TaskFile* file, const std::vector<MethodSettings>& variants,
                                      const ModelConfig& config, int world_size) {
  std::vector<double> work;
  for (const SampleGroup& group : groups) {
    for (int sample = 0; sample < group.count; ++sample) {
      int64_t length = group.target_tokens;
      if (group.metric && file) {
        const TaskSample& user = file->samples.at(size_t(sample));
        length = int64_t(user.context.size() + user.query.size()) / 4;
      }
      for (const MethodSettings& variant : variants) {
        RunSpec spec;
        spec.method = variant;
        spec.context_len = std::max<int64_t>(1, length);
        spec.generate = group.answer_budget;
        spec.repeats = settings.repeats;
        spec.warmup = settings.warmup;
        try {
          spec.plan = plan_method(variant, spec.context_len, world_size);
        } catch (const Error&) {
          spec.method = MethodSettings{};
          spec.plan = plan_method(spec.method, spec.context_len, 1);
        }
        work.push_back(expected_run_work(config, spec));
      }
    }
  }
  return work;
}

}  // namespace

int run_task_sweep(const SweepSettings& settings) {
  const bool task_file = !settings.task_file.empty();
  std::vector<MethodSettings> variants = Control::agree_on([&] {
    const std::vector<std::string> known = task_names();
    for (const std::string& task : settings.tasks) {
      SB_REQUIRE(std::find(known.begin(), known.end(), task) != known.end(), "unknown task '{}' (known: {})", task,
                 joined(known));
    }
    if (task_file) {
      SB_REQUIRE(settings.samples >= 0, "--samples must be >= 0 with --task-file (0: every sample; got {})",
                 settings.samples);
    } else {
      SB_REQUIRE(settings.samples >= 1, "--samples must be >= 1 (got {})", settings.samples);
      SB_REQUIRE(!settings.seq_lens.empty(), "--seq-len lists no length");
    }
    return method_variants(settings);
  });

  std::optional<Tokenizer> tokenizer;
  std::optional<TaskFile> file;  // rank 0: read and checked whole before anything runs
  Control::agree_on_root([&] {
    const std::string tokenizer_path = task_tokenizer_path(settings);
    SB_REQUIRE(!tokenizer_path.empty(), "{} needs a tokenizer: pass --tokenizer FILE (tokenizer.json) or --model DIR "
               "containing one", task_file ? "--task-file" : "--task");
    tokenizer.emplace(Tokenizer::load(tokenizer_path));
    if (task_file) {
      file.emplace(read_task_file(settings.task_file, settings.task_metric.name()));
      if (settings.samples > 0 && size_t(settings.samples) < file->samples.size()) file->samples.resize(size_t(settings.samples));
    }
  });
  // The groups of samples every method runs: the file's, or each task at each length.
  std::vector<SampleGroup> groups;
  if (task_file) {
    const int64_t count = Control::broadcast_ints({file ? int64_t(file->samples.size()) : 0}, 0).at(0);
    groups.push_back({task_file_task_name(settings.task_file), 0, settings.task_generate > 0 ? settings.task_generate : kTaskFileAnswerTokens,
                      int(count), settings.task_metric});
  }
  for (const std::string& task : settings.tasks) {
    const int64_t answer_budget = settings.task_generate > 0 ? settings.task_generate : ruler_answer_tokens(task);
    for (int64_t target_tokens : settings.seq_lens) groups.push_back({task, target_tokens, answer_budget,
                                                                        settings.samples, std::nullopt});
  }
  SweepSession session(settings, settings.methods, [&](const ModelConfig& config) {
    SB_REQUIRE(tokenizer->vocab_size() <= config.vocab_size,
               "the tokenizer has {} ids but model {} only {}: use a Llama-3 checkpoint or the tiny-llama3-vocab "
               "preset",
               tokenizer->vocab_size(), config.name, config.vocab_size);
  });
  for (MethodSettings& variant : variants) session.give_method_inputs(variant);
  session.start({});
  const bool root = session.root();
  const ModelConfig& config = session.config();
  TaskOptions options;
  options.words_path = settings.words_path;
  options.squad_path = settings.squad_path;
  options.hotpot_path = settings.hotpot_path;

  std::vector<SummaryRow> summary_rows;
  int executed = 0;
  // The generator sizes the task text; BOS or the chat template's scaffolding
  // come on top, so they are taken off each target.
  const int64_t scaffold_tokens = root ? prompt_scaffold_tokens(*tokenizer, settings.chat_template) : 0;
  size_t total_runs = 0;
  for (const SampleGroup& group : groups) total_runs += size_t(group.count) * variants.size();
  size_t runs_done = 0;  // executed or found in the file
  if (root) {
    session.plan_progress(
        planned_task_work(settings, groups, file ? &*file : nullptr, variants, config, session.layout().hosts),
        /*announce_every_start=*/false);
  }
  for (const SampleGroup& group : groups) {
    const std::string& task = group.task;
    std::vector<TaskSample> generated;
    if (!group.metric) {
      Control::agree_on_root([&] {
        SB_REQUIRE(group.target_tokens > 2 * scaffold_tokens, "--seq-len {} is too short for a {} prompt",
                   group.target_tokens, task);
        generated = generate_task_samples(task, group.target_tokens - scaffold_tokens, settings.samples,
                                          settings.seed, *tokenizer, options);
      });
    }
    const std::vector<TaskSample>& samples = group.metric ? file->samples : generated;  // rank 0
    std::map<std::string, MethodSamples> samples_of;  // method label -> its runs on the group's samples
    int64_t longest_prompt = 0;
    for (int index = 0; index < group.count; ++index) {
      PromptTokens prompt;
      Control::agree_on_root(
          [&] { prompt = tokenize_task_prompt(*tokenizer, samples.at(size_t(index)), settings.chat_template); });
      prompt.context = to_int32(Control::broadcast_ints(to_int64(prompt.context), 0));
      prompt.query = to_int32(Control::broadcast_ints(to_int64(prompt.query), 0));
      const int64_t sample_index =
          Control::broadcast_ints({root ? samples.at(size_t(index)).index : 0}, 0).at(0);  // a file's own index
      longest_prompt = std::max<int64_t>(longest_prompt, int64_t(prompt.context.size() + prompt.query.size()));
      const std::string input = group.metric ? fmt::format("{} sample {}", task, sample_index)
                                             : fmt::format("{} {} sample {}", task, group.target_tokens, index);
      session.forget_references();  // each sample is its own input

      for (const MethodSettings& variant : variants) {
        const std::string label = method_label(variant);
        SweepRun run;
        run.spec.method = variant;
        run.spec.context_len = int64_t(prompt.context.size());
        run.spec.query_len = int64_t(prompt.query.size());
        run.spec.generate = group.answer_budget;
        run.spec.repeats = settings.repeats;
        run.spec.warmup = settings.warmup;
        run.spec.seed = settings.seed;
        run.spec.task = task;
        run.spec.sample = sample_index;
        run.spec.plan =
            Control::agree_on([&] { return plan_method(variant, run.spec.context_len, session.layout().hosts); });
        run.key_suffix = group.key_suffix();
        run.input = run.what = input;
        run.index = runs_done;
        SweepResult result = session.run(run, prompt.context, prompt.query);
        ++runs_done;
        if (result.stored) {
          if (root) samples_of[label].add(result.record);
          continue;
        }
        ++executed;
        if (!root) continue;
        const TaskSample& sample = samples.at(size_t(index));
        const std::string text = tokenizer->decode(answer_tokens(result.outcome.generated, config));
        const TaskMetric metric = group.metric ? *group.metric : TaskMetric::parse(sample.metric);
        const double score = score_sample(metric, text, sample.answers, sample.query);
        RunRecord& record = result.record;
        record.text["generated_text"] = text;
        record.text["answers"] = joined(sample.answers);
        record.text["metric"] = metric.name();
        record.numbers["score"] = score;
        record.numbers["depth"] = sample.depth;
        record.integers["prompt_tokens"] = run.spec.context_len + run.spec.query_len;
        record.integers["target_tokens"] = group.target_tokens;
        samples_of[label].add(record);
        session.append_paced(std::move(record));
        fmt::print(stderr, "[{}/{}] [{}] {:<18} prompt {} tokens, score {:.2f}: {:?}  (ETA {})\n", runs_done,
                   total_runs, input, label, run.spec.context_len + run.spec.query_len, score,
                   text.substr(0, std::min<size_t>(text.size(), 60)), session.eta());
      }
    }
    if (!root) continue;
    std::vector<RunRecord> summaries;
    summarise(session, settings, variants, group, group.metric ? longest_prompt : group.target_tokens, samples_of,
              summary_rows, summaries);
    for (RunRecord& summary : summaries) session.append_paced(std::move(summary));
    session.flush();  // a task and length done: its records and summaries are in the file
  }
  session.report_resume();
  if (root) {
    fmt::print("\n{:<16} {:>8} {:<20} {:>8} {:>9} {:>10}\n", "task", "tokens", "method", "samples", "accuracy",
               "vs_global");
    for (const SummaryRow& row : summary_rows) {
      fmt::print("{:<16} {:>8} {:<20} {:>8} {:>9.1f} {:>10}\n", row.task, row.seq_len, row.label, row.samples,
                 row.accuracy, std::isnan(row.ratio) ? std::string("-") : fmt::format("{:.2f}", row.ratio));
    }
    fmt::print("accuracy = RULER score x 100 per task{}\n",
               settings.model.model_dir.empty() ? "; with synthetic weights it is expected to be near 0." : ".");
  }
  Control::barrier();
  return executed;
}

}  // namespace sb
