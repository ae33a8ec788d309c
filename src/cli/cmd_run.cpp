// starbench run: the benchmark sweep.
#include "cli/commands.h"
#include "cli/setting_options.h"
#include "experiment/sweep.h"

namespace sb {
namespace {

// Files every key of a config file under the subcommand being run ("seq-len" ->
// "run.seq-len" or "simulate.seq-len"): `run` and `simulate` read the same files.
class SubcommandConfig : public CLI::ConfigTOML {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items = CLI::ConfigTOML::from_config(input);
    for (CLI::ConfigItem& item : items) item.parents.insert(item.parents.begin(), config_subcommand());
    return items;
  }
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
  app.config_formatter(std::make_shared<SubcommandConfig>());
  app.allow_config_extras(CLI::config_extras_mode::error);
  CLI::App* run = app.add_subcommand("run", "Benchmark sweep: methods x context lengths x block/anchor sizes");
  run->fallthrough();  // `starbench run --config FILE` hands --config to the main app
  add_sweep_options(run, *settings);
  run->callback([settings] { run_sweep(*settings); });
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
      "Star block sizes: tokens, 0 (context / ranks) or C/k (context / k, e.g. C/4 as in the paper)", "0");
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
  run->add_option("--repeats", settings->repeats, "Timed repeats per run (every one is stored)")->capture_default_str();
  run->add_option("--warmup", settings->warmup, "Untimed repeats before them")->capture_default_str();
  run->add_option("--seed", settings->seed, "Seed of the input tokens")->capture_default_str();
  run->add_option("--output,-o", settings->output, "HDF5 results file (appended; reruns resume)")->capture_default_str();
  run->add_flag("!--no-resume", settings->resume, "Rerun runs the file already holds");
  run->add_option("--task", settings->tasks,
                  "Accuracy runs on RULER-style tasks (niah_single_1..3, niah_multikey_1..3, niah_multivalue, "
                  "niah_multiquery, vt, cwe, fwe, qa_1, qa_2) instead of timing runs")
      ->delimiter(',');
  run->add_option("--samples", settings->samples, "Samples per task and length")->capture_default_str();
  run->add_option("--tokenizer", settings->tokenizer, "tokenizer.json (default: the one in --model DIR)");
  run->add_option("--task-generate", settings->task_generate, "Answer tokens (0: RULER's per-task budget)")
      ->capture_default_str();
  run->add_flag("--chat-template", settings->chat_template, "Wrap prompts in the Llama-3.1 instruct template");
  run->add_option("--words", settings->words_path, "Word list for essay haystacks and cwe/fwe")->capture_default_str();
  run->add_option("--squad", settings->squad_path, "SQuAD dev JSON for qa_1");
  run->add_option("--hotpotqa", settings->hotpot_path, "HotpotQA dev JSON for qa_2");
}

}  // namespace sb
