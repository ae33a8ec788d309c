// Accuracy runs: RULER-style samples sized with the real tokenizer, every
// method on the same samples, scored as RULER does, with per-task accuracy and
// its ratio to global stored next to the per-sample records.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/core.h>

#include "experiment/progress.h"
#include "experiment/record.h"
#include "experiment/sweep.h"
#include "experiment/sweep_session.h"
#include "metrics/ruler_score.h"
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

// Per-task accuracy (RULER: mean score x 100) of every method at one length, and
// its ratio to global's; the summary records not already in the file.
void summarise(const SweepSession& session, const SweepSettings& settings, const std::vector<MethodSettings>& variants,
               const std::string& task, int64_t target_tokens, std::map<std::string, std::vector<double>>& scores,
               std::vector<SummaryRow>& rows, std::vector<RunRecord>& summaries) {
  const auto global_scores = scores.find(method_label(MethodSettings{}));
  const double global_accuracy = global_scores == scores.end() ? NAN : mean_percent(global_scores->second);
  const RunContext& context = session.context();
  for (const MethodSettings& variant : variants) {
    const std::string label = method_label(variant);
    const std::vector<double>& method_scores = scores[label];
    const double accuracy = mean_percent(method_scores);
    const double ratio = global_accuracy > 0 ? accuracy / global_accuracy : NAN;
    const int ranks = runs_on_one_rank(variant.method) ? context.hosts.gpus_per_host : context.job_world_size;
    rows.push_back({task, label, target_tokens, accuracy, ratio, int(method_scores.size())});
    RunRecord summary;
    summary.text = {{"kind", "task_summary"}, {"task", task},
                    {"method", setting_name(variant.method)}, {"label", label},
                    {"model", session.config().name}, {"backend", context.backend}};
    summary.text["params_key"] =
        fmt::format("summary;model={};backend={};task={};target={};method={};samples={};seed={};ranks={}",
                    session.config().name, context.backend, task, target_tokens, label, settings.samples,
                    settings.seed, ranks) +
        duo_params_key(variant.duo.get()) +
        // Hosts of several GPUs are other runs (one-GPU hosts keep their keys).
        (context.hosts.gpus_per_host > 1 ? fmt::format(";gpus_per_host={};host_split={}", context.hosts.gpus_per_host,
                                                       host_split_name(context.hosts.split))
                                         : std::string());
    // Summaries record a fixed block in tokens, a rule as 0 (the label names it).
    const bool fixed = variant.method == Method::Star && variant.block_rule.label() == "fixed";
    summary.integers = {{"seq_len", target_tokens},
                        {"samples", int64_t(method_scores.size())},
                        {"block_size", fixed ? variant.block_rule.tokens : 0},
                        {"anchor_size", variant.method == Method::Star ? variant.anchor_size : 0},
                        {"world_size", ranks},
                        {"gpus_per_host", context.hosts.gpus_per_host},
                        {"host_count", ranks / context.hosts.gpus_per_host}};
    summary.text["host_split"] = host_split_name(context.hosts.split);
    summary.numbers = {{"accuracy", accuracy}, {"accuracy_ratio_vs_global", ratio}};
    if (session.stored_run(summary.text["params_key"]).empty()) summaries.push_back(std::move(summary));
  }
}

// Each task run's expected work before its sample exists, in sweep order
// (task x length x sample x method): its target length as the context, no
// query yet, the task's answer budget; replaced by the run's own once its
// prompt is tokenized. A length a method cannot plan counts as global's.
std::vector<double> planned_task_work(const SweepSettings& settings, const std::vector<MethodSettings>& variants,
                                      const ModelConfig& config, int world_size) {
  std::vector<double> work;
  for (const std::string& task : settings.tasks) {
    const int64_t answer_budget = settings.task_generate > 0 ? settings.task_generate : ruler_answer_tokens(task);
    for (int64_t target_tokens : settings.seq_lens) {
      for (int sample = 0; sample < settings.samples; ++sample) {
        for (const MethodSettings& variant : variants) {
          RunSpec spec;
          spec.method = variant;
          spec.context_len = std::max<int64_t>(1, target_tokens);
          spec.generate = answer_budget;
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
  }
  return work;
}

}  // namespace

int run_task_sweep(const SweepSettings& settings) {
  std::vector<MethodSettings> variants = Control::agree_on([&] {
    const std::vector<std::string> known = task_names();
    for (const std::string& task : settings.tasks) {
      SB_REQUIRE(std::find(known.begin(), known.end(), task) != known.end(), "unknown task '{}' (known: {})", task,
                 joined(known));
    }
    SB_REQUIRE(settings.samples >= 1, "--samples must be >= 1 (got {})", settings.samples);
    SB_REQUIRE(!settings.seq_lens.empty(), "--seq-len lists no length");
    return method_variants(settings);
  });

  std::optional<Tokenizer> tokenizer;
  Control::agree_on_root([&] {
    const std::string tokenizer_path = task_tokenizer_path(settings);
    SB_REQUIRE(!tokenizer_path.empty(),
               "--task needs a tokenizer: pass --tokenizer FILE (tokenizer.json) or --model DIR containing one");
    tokenizer.emplace(Tokenizer::load(tokenizer_path));
  });
  SweepSession session(settings, settings.methods, [&](const ModelConfig& config) {
    SB_REQUIRE(tokenizer->vocab_size() <= config.vocab_size,
               "the tokenizer has {} ids but model {} only {}: use a Llama-3 checkpoint or the tiny-llama3-vocab "
               "preset",
               tokenizer->vocab_size(), config.name, config.vocab_size);
  });
  for (MethodSettings& variant : variants) session.give_duo(variant);
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
  const size_t total_runs = settings.tasks.size() * settings.seq_lens.size() * size_t(settings.samples) * variants.size();
  size_t runs_done = 0;  // executed or found in the file
  if (root) {
    session.plan_progress(planned_task_work(settings, variants, config, session.layout().hosts),
                          /*announce_every_start=*/false);
  }
  for (const std::string& task : settings.tasks) {
    const int64_t answer_budget = settings.task_generate > 0 ? settings.task_generate : ruler_answer_tokens(task);
    for (int64_t target_tokens : settings.seq_lens) {
      std::vector<TaskSample> samples;
      Control::agree_on_root([&] {
        SB_REQUIRE(target_tokens > 2 * scaffold_tokens, "--seq-len {} is too short for a {} prompt", target_tokens,
                   task);
        samples = generate_task_samples(task, target_tokens - scaffold_tokens, settings.samples, settings.seed,
                                        *tokenizer, options);
      });
      std::map<std::string, std::vector<double>> scores;  // method label -> per-sample scores
      for (int index = 0; index < settings.samples; ++index) {
        PromptTokens prompt;
        Control::agree_on_root(
            [&] { prompt = tokenize_task_prompt(*tokenizer, samples.at(size_t(index)), settings.chat_template); });
        prompt.context = to_int32(Control::broadcast_ints(to_int64(prompt.context), 0));
        prompt.query = to_int32(Control::broadcast_ints(to_int64(prompt.query), 0));
        const std::string input = fmt::format("{} {} sample {}", task, target_tokens, index);
        session.forget_references();  // each sample is its own input

        for (const MethodSettings& variant : variants) {
          const std::string label = method_label(variant);
          SweepRun run;
          run.spec.method = variant;
          run.spec.context_len = int64_t(prompt.context.size());
          run.spec.query_len = int64_t(prompt.query.size());
          run.spec.generate = answer_budget;
          run.spec.repeats = settings.repeats;
          run.spec.warmup = settings.warmup;
          run.spec.seed = settings.seed;
          run.spec.task = task;
          run.spec.sample = index;
          run.spec.plan =
              Control::agree_on([&] { return plan_method(variant, run.spec.context_len, session.layout().hosts); });
          run.key_suffix = fmt::format(";target={}", target_tokens);
          run.input = run.what = input;
          run.index = runs_done;
          SweepResult result = session.run(run, prompt.context, prompt.query);
          ++runs_done;
          if (result.stored) {
            if (root) scores[label].push_back(result.record.numbers.at("score"));
            continue;
          }
          ++executed;
          if (!root) continue;
          const TaskSample& sample = samples.at(size_t(index));
          const std::string text = tokenizer->decode(answer_tokens(result.outcome.generated, config));
          const double score = ruler_sample_score(sample.metric, text, sample.answers);
          scores[label].push_back(score);
          RunRecord& record = result.record;
          record.text["generated_text"] = text;
          record.text["answers"] = joined(sample.answers);
          record.text["metric"] = sample.metric;
          record.numbers["score"] = score;
          record.numbers["depth"] = sample.depth;
          record.integers["prompt_tokens"] = run.spec.context_len + run.spec.query_len;
          record.integers["target_tokens"] = target_tokens;
          session.append_paced(std::move(record));
          fmt::print(stderr, "[{}/{}] [{}] {:<18} prompt {} tokens, score {:.2f}: {:?}  (ETA {})\n", runs_done,
                     total_runs, input, label, run.spec.context_len + run.spec.query_len, score,
                     text.substr(0, std::min<size_t>(text.size(), 60)), session.eta());
        }
      }
      if (!root) continue;
      std::vector<RunRecord> summaries;
      summarise(session, settings, variants, task, target_tokens, scores, summary_rows, summaries);
      for (RunRecord& summary : summaries) session.append_paced(std::move(summary));
      session.flush();  // a task and length done: its records and summaries are in the file
    }
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
