// starbench run: the benchmark sweep.
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/setting_options.h"
#include "experiment/sweep.h"

namespace sb {
namespace {

// The lines of `text` (1-based) that set `key` ("key = ..." / "key=..."), in order.
std::vector<int> lines_setting(const std::string& text, const std::string& key) {
  std::vector<int> lines;
  std::istringstream stream(text);
  std::string line;
  for (int number = 1; std::getline(stream, line); ++number) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line.compare(start, key.size(), key) != 0) continue;
    const size_t after = line.find_first_not_of(" \t", start + key.size());
    if (after != std::string::npos && (line[after] == '=' || line[after] == ':')) lines.push_back(number);
  }
  return lines;
}

// Files every key of a config file under the subcommand being run ("seq-len" ->
// "run.seq-len" or "simulate.seq-len"): `run` and `simulate` read the same files.
// Refuses, naming the file and the line, a key given twice (CLI11 would keep the
// first value and drop the later one silently) and a key that is no option of
// the subcommand.
class SubcommandConfig : public CLI::ConfigTOML {
 public:
  explicit SubcommandConfig(const CLI::App* app) : app_(app) {}
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
    std::istringstream copy(text);
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(copy);
    const std::string file = next_file_name();
    const CLI::App* command = app_->get_subcommand(config_subcommand());
    // Keys before the first [section]: CLI11 merges a key repeated on consecutive
    // lines into one list, so repeats are found in the text, not among the items.
    const std::string top_level = text.substr(0, text.find("\n["));
    std::map<std::string, int> seen;
    for (const CLI::ConfigItem& item : items) {
      if (item.name == "++" || item.name == "--") continue;  // section markers
      const std::string key = item.fullname();
      const std::vector<int> lines = lines_setting(item.parents.empty() ? top_level : text, item.name);
      const std::string where = lines.empty() ? file : fmt::format("{}:{}", file, lines.front());
      if (++seen[key] == 2 || (item.parents.empty() && lines.size() >= 2)) {
        throw CLI::ConfigError(fmt::format("{}: key '{}' is given twice{}: give it once (a list takes commas: "
                                           "seq-len = [1024, 2048] or \"1024,2048\")",
                                           file, key,
                                           lines.size() >= 2 ? fmt::format(" (lines {} and {})", lines[0], lines[1])
                                                             : std::string()));
      }
      const bool known = !item.parents.empty() || command->get_option_no_throw("--" + item.name) != nullptr ||
                         (item.name.size() == 1 && command->get_option_no_throw("-" + item.name) != nullptr) ||
                         app_->get_option_no_throw("--" + item.name) != nullptr;
      if (!known) {
        throw CLI::ConfigError(fmt::format("{}: unknown key '{}': `starbench {}` has no option --{} (see starbench "
                                           "{} --help)",
                                           where, item.name, config_subcommand(), item.name, config_subcommand()));
      }
    }
    for (CLI::ConfigItem& item : items) item.parents.insert(item.parents.begin(), config_subcommand());
    return items;
  }

 private:
  // CLI11 reads the --config files in order, one from_config call each.
  std::string next_file_name() const {
    const CLI::Option* option = app_->get_config_ptr();
    const std::vector<std::string> files =
        option && option->count() > 0 ? option->as<std::vector<std::string>>() : std::vector<std::string>{};
    const size_t index = calls_++;
    return index < files.size() ? files[index] : std::string("the config file");
  }
  const CLI::App* app_;
  mutable size_t calls_ = 0;
};

}  // namespace

std::string& config_subcommand() {
  static std::string name = "run";
  return name;
}

void add_run_command(CLI::App& app) {
  auto settings = std::make_shared<SweepSettings>();
  // CLI11 2.1 reads config files on the main app only (App::_process_config_file):
  // a --config set on the subcommand is accepted and silently ignored. So the
  // main app owns --config, files the keys under the subcommand given (main.cpp
  // sets it from the command line), and refuses unknown keys.
  app.set_config("--config", "", "Experiment file for `run` or `simulate` (TOML/INI; every run flag is also a key)");
  app.config_formatter(std::make_shared<SubcommandConfig>(&app));
  app.allow_config_extras(CLI::config_extras_mode::error);
  CLI::App* run = app.add_subcommand("run", "Benchmark sweep: methods x context lengths x block/anchor sizes");
  run->fallthrough();  // `starbench run --config FILE` hands --config to the main app
  add_sweep_options(run, *settings);
  run->callback([settings, run] {
    // A task file runs every sample it holds unless --samples says how many.
    if (!settings->task_file.empty() && run->count("--samples") == 0) settings->samples = 0;
    run_sweep(*settings);
  });
}

void add_sweep_options(CLI::App* run, SweepSettings& settings_ref) {
  SweepSettings* settings = &settings_ref;
  run->add_option("--model", settings->model.model_dir, "HF Llama-3 checkpoint directory (config.json + safetensors)");
  run->add_option("--model-preset", settings->model.preset,
                  "Synthetic weights with a preset's shapes: tiny, llama3-8b, llama3.1-8b, llama3.1-70b, llama3.1-405b, "
                  "llama3-8b-gradient-1048k")
      ->capture_default_str();
  run->add_option("--weight-seed", settings->model.weight_seed, "Seed of the synthetic weights")->capture_default_str();
  run->add_option("--backend", settings->backend, "auto | cpu | cuda (auto: cuda when a GPU is present)")
      ->capture_default_str();
  add_host_options(*run, settings->hosts);
  add_setting_list_option(*run, "--method", settings->methods, "Attention methods: " + setting_choices<Method>());
  run->add_option("--seq-len", settings->seq_lens, "Context lengths in tokens")->delimiter(',')->capture_default_str();
  run->add_option("--query-len", settings->query_len, "Query tokens after the context")->capture_default_str();
  run->add_option("--generate", settings->generate, "Greedy tokens generated after the query")->capture_default_str();
  add_parsed_list_option<BlockRule>(
      *run, "--block-size", settings->block_rules, parse_block_rule,
      "Star block sizes: tokens, 0 (context / ranks) or C/k (context / k); the default C/4 is the paper's rule",
      "C/4");
  run->add_option("--anchor-size", settings->anchor_sizes, "Star anchor sizes (-1: the block size)")
      ->delimiter(',')
      ->capture_default_str();
  add_setting_list_option(*run, "--anchor-source", settings->anchor_sources,
                          "Star ablation: anchor tokens are the context's first tokens (first) or those just before "
                          "each block (previous)");
  add_setting_list_option(*run, "--anchor-positions", settings->anchor_positions,
                          "Star ablation: anchor position ids are its own (original) or the ones just before the "
                          "block (adjacent)");
  add_setting_list_option(*run, "--anchor-mode", settings->anchor_modes,
                          "Star: how a rank gets the anchor: recompute (per block, as the paper's code), once (per "
                          "rank), sent (rank 0 broadcasts its KV per layer), auto (sent; recompute for the ablations)");
  add_setting_list_option(*run, "--ring-layout", settings->ring_layouts,
                          "Ring: zigzag (load-balanced) and/or contiguous (the Star Attention paper's baseline)");
  add_duo_options(*run, settings->duo);
  add_apb_options(*run, settings->apb);
  run->add_option("--repeats", settings->repeats, "Timed repeats per run (every one is stored)")->capture_default_str();
  run->add_option("--warmup", settings->warmup, "Untimed repeats before them")->capture_default_str();
  run->add_option("--seed", settings->seed, "Seed of the input tokens")->capture_default_str();
  run->add_option("--output,-o", settings->output, "HDF5 results file (appended; reruns resume)")->capture_default_str();
  run->add_flag("!--no-resume", settings->resume, "Rerun runs the file already holds");
  run->add_option("--task", settings->tasks,
                  "Accuracy runs on RULER-style tasks (niah_single_1..3, niah_multikey_1..3, niah_multivalue, "
                  "niah_multiquery, vt, cwe, fwe, qa_1, qa_2) instead of timing runs")
      ->delimiter(',');
  run->add_option("--samples", settings->samples,
                  "Samples per task and length (with --task-file: the file's first N; default every sample)")
      ->capture_default_str();
  run->add_option("--task-file", settings->task_file,
                  "Accuracy runs on your own samples: JSON lines in Star Attention's format (input_context, "
                  "input_query, output) or RULER's prepared format (input, outputs); see docs/TASKS.md")
      ->excludes("--task");
  add_parsed_option<TaskMetric>(*run, "--task-metric", settings->task_metric, TaskMetric::parse,
                                "How --task-file answers are scored: all (RULER's string_match_all), part "
                                "(string_match_part), babilong:qa1..qa5 (BABILong's answer match)",
                                "all");
  run->add_option("--tokenizer", settings->tokenizer, "tokenizer.json (default: the one in --model DIR)");
  run->add_option("--task-generate", settings->task_generate, "Answer tokens (0: RULER's per-task budget)")
      ->check(non_negative_tokens())
      ->capture_default_str();
  run->add_flag("--chat-template", settings->chat_template, "Wrap prompts in the Llama-3.1 instruct template");
  run->add_option("--words", settings->words_path, "Word list for essay haystacks and cwe/fwe")->capture_default_str();
  run->add_option("--squad", settings->squad_path, "SQuAD dev JSON for qa_1");
  run->add_option("--hotpotqa", settings->hotpot_path, "HotpotQA dev JSON for qa_2");
}

}  // namespace sb
