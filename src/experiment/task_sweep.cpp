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

#include "attention/method.h"
#include "experiment/fidelity.h"
#include "experiment/record.h"
#include "experiment/model_loader.h"
#include "experiment/host_setup.h"
#include "experiment/runner.h"
#include "experiment/sweep.h"
#include "io/paced_appender.h"
#include "io/results_store.h"
#include "metrics/ruler_score.h"
#include "tasks/task_prompt.h"
#include "tasks/tasks.h"
#include "tokenizer/tokenizer.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

struct MethodVariant {
  std::string method;
  BlockRule block_rule;  // star: resolved per prompt (C/k rules follow the prompt's length)
  int64_t anchor_size = 0;
  std::string anchor_source = "first", anchor_positions = "original", anchor_mode = "auto";
  std::string ring_layout = "zigzag";
  std::shared_ptr<const DuoPattern> duo = nullptr;  // duo and star + duo
  static MethodVariant of(const std::string& method) {
    MethodVariant variant;
    variant.method = method;
    return variant;
  }
  std::string label() const {
    if (method == "ring") return ring_layout == "zigzag" ? "ring" : "ring(" + ring_layout + ")";
    if (method != "star") return method;
    std::string ablation;
    if (anchor_source != "first") ablation += "," + anchor_source;
    if (anchor_positions != "original") ablation += "," + anchor_positions;
    const std::string block = block_rule.label() == "fixed" ? std::to_string(block_rule.tokens) : block_rule.label();
    return fmt::format("star{}(b={},a={}{})", duo ? "+duo" : "", block, anchor_size, ablation);
  }
  // Summaries record a fixed block in tokens, a rule as 0 (its label names it).
  int64_t block_tokens() const { return block_rule.label() == "fixed" ? block_rule.tokens : 0; }
};

std::vector<MethodVariant> method_variants(const SweepSettings& settings) {
  std::vector<MethodVariant> variants;
  for (const std::string& method : methods_global_first(settings.methods)) {
    SB_REQUIRE(is_known_method(method), "unknown attention method '{}' (valid: global, ring, star, duo)", method);
    if (method == "ring") {
      for (const std::string& layout : ring_layouts(settings)) {
        MethodVariant variant = MethodVariant::of(method);
        variant.ring_layout = layout;
        variants.push_back(variant);
      }
    } else if (method != "star") {
      variants.push_back(MethodVariant::of(method));
    } else {
      for (const StarSetting& setting : star_settings(settings)) {
        MethodVariant variant = MethodVariant::of(method);
        variant.block_rule = setting.block_rule;
        variant.anchor_size = setting.anchor_size;
        variant.anchor_source = setting.anchor_source;
        variant.anchor_positions = setting.anchor_positions;
        variant.anchor_mode = setting.anchor_mode;
        variants.push_back(variant);
      }
    }
  }
  return variants;
}

std::vector<int64_t> to_int64(const std::vector<int32_t>& ids) { return {ids.begin(), ids.end()}; }
std::vector<int32_t> to_int32(const std::vector<int64_t>& ids) { return {ids.begin(), ids.end()}; }

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : " | ") + item;
  return text;
}

}  // namespace

int run_task_sweep(const SweepSettings& settings) {
  const bool root = Control::is_root();
  const int world_size = Control::size();
  std::vector<MethodVariant> variants;
  std::string problem;
  try {
    const std::vector<std::string> known = task_names();
    for (const std::string& task : settings.tasks) {
      SB_REQUIRE(std::find(known.begin(), known.end(), task) != known.end(), "unknown task '{}' (known: {})", task,
                 joined(known));
    }
    SB_REQUIRE(settings.samples >= 1, "--samples must be >= 1 (got {})", settings.samples);
    SB_REQUIRE(!settings.seq_lens.empty(), "--seq-len lists no length");
    variants = method_variants(settings);
    SB_REQUIRE(!variants.empty(), "--method lists no method");
  } catch (const Error& error) {
    problem = error.what();
  }
  Control::agree(problem.empty(), problem);

  std::optional<ResultsStore> store;
  std::optional<Tokenizer> tokenizer;
  problem.clear();
  if (root) {
    try {
      std::string tokenizer_path = settings.tokenizer;
      if (tokenizer_path.empty()) {
        SB_REQUIRE(!settings.model.model_dir.empty(),
                   "--task needs a tokenizer: pass --tokenizer FILE (tokenizer.json) or --model DIR containing one");
        tokenizer_path = (std::filesystem::path(settings.model.model_dir) / "tokenizer.json").string();
      }
      tokenizer.emplace(Tokenizer::load(tokenizer_path));
      store.emplace(ResultsStore::open(settings.output));
    } catch (const Error& error) {
      problem = error.what();
    }
  }
  Control::agree(problem.empty(), problem);

  ModelConfig config = resolve_model_config(settings.model);
  const std::shared_ptr<const DuoPattern> duo = resolve_duo_pattern(settings.duo, config, settings.methods);
  for (MethodVariant& variant : variants) {
    if (variant.method == "duo" || variant.method == "star") variant.duo = duo;
  }
  problem.clear();
  if (root && tokenizer->vocab_size() > config.vocab_size) {
    problem = fmt::format("the tokenizer has {} ids but model {} only {}: use a Llama-3 checkpoint or the "
                          "tiny-llama3-vocab preset",
                          tokenizer->vocab_size(), config.name, config.vocab_size);
  }
  Control::agree(problem.empty(), problem);
  const HostLayout layout = resolve_host_layout(settings.hosts, config);
  std::unique_ptr<Backend> backend = create_backend(settings.backend);
  HostModel host = load_host_model(settings.model, config, *backend, layout);
  Transformer* model = host.model.get();
  Runner runner(*model, *host.comms.between);
  RunContext context{config.name,           backend->name(), backend->device_name(), world_size,
                     backend->provenance(), !backend->computes_values(), gather_placement(*backend)};
  context.hosts = layout;
  TaskOptions options;
  options.words_path = settings.words_path;
  options.squad_path = settings.squad_path;
  options.hotpot_path = settings.hotpot_path;

  struct SummaryRow {
    std::string task, label;
    int64_t seq_len;
    double accuracy, ratio;
    int samples;
  };
  std::vector<SummaryRow> summary_rows;
  int executed = 0;
  // The generator sizes the task text; BOS or the chat template's scaffolding
  // come on top, so they are taken off each target.
  const int64_t scaffold_tokens = root ? prompt_scaffold_tokens(*tokenizer, settings.chat_template) : 0;
  // Runs already in the file, read once (resume and summaries); new records go
  // out in paced batches (a RULER study is thousands of small records).
  std::map<std::string, std::string> stored_runs;  // params_key -> run id (the last)
  std::optional<PacedAppender> appender;
  if (root) {
    for (const auto& [key, ids] : store->runs_by_params_key()) stored_runs[key] = ids.back();
    appender.emplace(*store);
  }
  const size_t total_runs = settings.tasks.size() * settings.seq_lens.size() * size_t(settings.samples) * variants.size();
  size_t runs_done = 0;  // executed or found in the file
  const auto sweep_start = std::chrono::steady_clock::now();
  const bool has_global = std::any_of(variants.begin(), variants.end(),
                                      [](const MethodVariant& variant) { return variant.method == "global"; });
  for (const std::string& task : settings.tasks) {
    const int64_t answer_tokens = settings.task_generate > 0 ? settings.task_generate : ruler_answer_tokens(task);
    for (int64_t target_tokens : settings.seq_lens) {
      std::vector<TaskSample> samples;
      problem.clear();
      if (root) {
        try {
          SB_REQUIRE(target_tokens > 2 * scaffold_tokens, "--seq-len {} is too short for a {} prompt", target_tokens,
                     task);
          samples = generate_task_samples(task, target_tokens - scaffold_tokens, settings.samples, settings.seed,
                                          *tokenizer, options);
        } catch (const Error& error) {
          problem = error.what();
        }
      }
      Control::agree(problem.empty(), problem);
      std::map<std::string, std::vector<double>> scores;  // method label -> per-sample scores
      for (int index = 0; index < settings.samples; ++index) {
        PromptTokens prompt;
        problem.clear();
        if (root) {
          try {
            prompt = tokenize_task_prompt(*tokenizer, samples.at(size_t(index)), settings.chat_template);
          } catch (const Error& error) {
            problem = error.what();
          }
        }
        Control::agree(problem.empty(), problem);
        prompt.context = to_int32(Control::broadcast_ints(to_int64(prompt.context), 0));
        prompt.query = to_int32(Control::broadcast_ints(to_int64(prompt.query), 0));

        auto make_spec = [&](const MethodVariant& variant) {
          RunSpec spec;
          spec.method = variant.method;
          spec.context_len = int64_t(prompt.context.size());
          spec.query_len = int64_t(prompt.query.size());
          spec.generate = answer_tokens;
          if (variant.method == "star") {
            spec.block_size = variant.block_rule.resolve(spec.context_len, layout.hosts);
            spec.block_rule = variant.block_rule.label();
          }
          spec.anchor_size = variant.anchor_size;
          spec.anchor_source = variant.anchor_source;
          spec.anchor_positions = variant.anchor_positions;
          spec.anchor_mode = variant.anchor_mode;
          spec.ring_layout = variant.ring_layout;
          spec.duo = variant.duo;
          spec.repeats = settings.repeats;
          spec.warmup = settings.warmup;
          spec.seed = settings.seed;
          spec.task = task;
          spec.sample = index;
          return spec;
        };
        std::optional<RunOutcome> reference;
        for (const MethodVariant& variant : variants) {
          const RunSpec spec = make_spec(variant);
          const std::string key = params_key(spec, context) + fmt::format(";target={}", target_tokens);

          int64_t stored = 0;
          if (root && settings.resume) {
            const auto found = stored_runs.find(key);
            if (found != stored_runs.end()) {
              scores[variant.label()].push_back(store->read(found->second).numbers.at("score"));
              stored = 1;
            }
          }
          ++runs_done;
          if (Control::broadcast_ints({stored}, 0).at(0)) continue;

          // Task records do not keep global's logits (megabytes per sample with
          // a 128K vocabulary); a resumed sample whose global run is stored
          // runs global once more, unrecorded, for the fidelity of the others.
          const int64_t rerun_reference = root && has_global && variant.method != "global" && !reference;
          if (Control::broadcast_ints({rerun_reference}, 0).at(0)) {
            RunSpec global_spec = make_spec(MethodVariant::of("global"));
            global_spec.repeats = 1;
            global_spec.warmup = 0;
            RunOutcome global_outcome = runner.run(global_spec, prompt.context, prompt.query);
            if (root) {
              reference = std::move(global_outcome);
              fmt::print(stderr, "[{} {} sample {}] global re-run (unrecorded) as the reference of a resumed sample\n",
                         task, target_tokens, index);
            }
          }

          RunOutcome outcome = runner.run(spec, prompt.context, prompt.query);
          ++executed;
          if (!root) continue;
          const TaskSample& sample = samples.at(size_t(index));
          std::vector<int32_t> answer;
          for (int64_t token : outcome.generated) {
            if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) !=
                config.eos_token_ids.end()) {
              break;
            }
            answer.push_back(int32_t(token));
          }
          const std::string text = tokenizer->decode(answer);
          const double score = ruler_sample_score(sample.metric, text, sample.answers);
          scores[variant.label()].push_back(score);
          std::optional<Fidelity> fidelity;
          if (variant.method == "global") {
            reference = outcome;
          } else if (reference) {
            fidelity = compare_outputs(reference->query_logits, outcome.query_logits, outcome.vocab_size,
                                       reference->query_hidden, outcome.query_hidden, reference->generated,
                                       outcome.generated);
          }
          RunRecord record = make_run_record(outcome, context, fidelity ? &*fidelity : nullptr);
          record.text["params_key"] = key;
          record.text["generated_text"] = text;
          record.text["answers"] = joined(sample.answers);
          record.text["metric"] = sample.metric;
          record.numbers["score"] = score;
          record.numbers["depth"] = sample.depth;
          record.integers["prompt_tokens"] = spec.context_len + spec.query_len;
          record.integers["target_tokens"] = target_tokens;
          appender->add(std::move(record));
          const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
          const double eta = elapsed / double(executed) * double(total_runs - runs_done);
          fmt::print(stderr, "[{}/{}] [{} {} sample {}] {:<18} prompt {} tokens, score {:.0f}: {:?}  (ETA {})\n",
                     runs_done, total_runs, task, target_tokens, index, variant.label(),
                     spec.context_len + spec.query_len, score, text.substr(0, std::min<size_t>(text.size(), 60)),
                     format_duration(eta));
        }
      }
      if (!root) continue;
      // Per-task accuracy (RULER: mean score x 100) and its ratio to global.
      const auto global_scores = scores.find("global");
      auto mean = [](const std::vector<double>& values) {
        double total = 0;
        for (double value : values) total += value;
        return values.empty() ? NAN : 100.0 * total / double(values.size());
      };
      const double global_accuracy = global_scores == scores.end() ? NAN : mean(global_scores->second);
      for (const MethodVariant& variant : variants) {
        const std::vector<double>& method_scores = scores[variant.label()];
        const double accuracy = mean(method_scores);
        const double ratio = global_accuracy > 0 ? accuracy / global_accuracy : NAN;
        summary_rows.push_back({task, variant.label(), target_tokens, accuracy, ratio, int(method_scores.size())});
        RunRecord summary;
        summary.text = {{"kind", "task_summary"}, {"task", task},           {"method", variant.method},
                        {"model", config.name},   {"backend", context.backend}};
        summary.text["params_key"] =
            fmt::format("summary;model={};backend={};task={};target={};method={};samples={};seed={};ranks={}",
                        config.name, context.backend, task, target_tokens, variant.label(), settings.samples,
                        settings.seed, runs_on_one_rank(variant.method) ? 1 : world_size) +
            duo_params_key(variant.duo.get()) +
            (layout.gpus_per_host > 1 ? fmt::format(";gpus_per_host={};host_split={}", layout.gpus_per_host,
                                                    host_split_name(layout.split))
                                      : std::string());
        summary.integers = {{"seq_len", target_tokens},
                            {"samples", int64_t(method_scores.size())},
                            {"block_size", variant.block_tokens()},
                            {"anchor_size", variant.anchor_size},
                            {"world_size", runs_on_one_rank(variant.method) ? 1 : world_size},
                            {"gpus_per_host", layout.gpus_per_host}};
        summary.numbers = {{"accuracy", accuracy}, {"accuracy_ratio_vs_global", ratio}};
        if (!stored_runs.count(summary.text["params_key"])) appender->add(std::move(summary));
      }
      appender->flush();  // a task and length done: its records and summaries are in the file
    }
  }
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
