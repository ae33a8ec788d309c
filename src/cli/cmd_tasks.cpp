// starbench tasks: RULER-style samples as JSON lines (RULER's "prepare" step),
// from the generator, tokenizer and prompt framing `run --task` uses. Written
// to a temporary file renamed over the output at the end, so an error never
// leaves a partial file.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "cli/commands.h"
#include "tasks/task_export.h"
#include "tokenizer/tokenizer.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

struct TasksArgs {
  TaskExportSettings settings;
  std::string tokenizer_path;
  std::string output;
};

void write_tasks_file(const TasksArgs& args) {
  SB_REQUIRE(!args.output.empty(), "--output FILE is required");
  const fs::path output(args.output);
  std::error_code ec;
  SB_REQUIRE(!fs::is_directory(output, ec), "--output {} is a directory", args.output);
  const fs::path parent = output.has_parent_path() ? output.parent_path() : fs::path(".");
  SB_REQUIRE(fs::is_directory(parent, ec), "--output {}: folder {} does not exist", args.output, parent.string());
  const Tokenizer tokenizer = Tokenizer::load(args.tokenizer_path);
  validate_task_export(args.settings, tokenizer);

  const fs::path temporary = parent / fmt::format(".{}.tmp-{}", output.filename().string(), ::getpid());
  const auto start = std::chrono::steady_clock::now();
  int64_t lines = 0;
  try {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    SB_REQUIRE(out.good(), "--output {}: cannot write {}", args.output, temporary.string());
    lines = write_task_samples_jsonl(args.settings, tokenizer, out);
    out.close();
    SB_REQUIRE(!out.fail(), "--output {}: writing {} failed", args.output, temporary.string());
    fs::rename(temporary, output);
  } catch (...) {
    fs::remove(temporary, ec);
    throw;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(stderr, "tasks: {} samples -> {} in {:.2f} s ({:.0f} samples/s)\n", lines, args.output, seconds,
             double(lines) / std::max(seconds, 1e-9));
}

}  // namespace

void add_tasks_command(CLI::App& app) {
  auto args = std::make_shared<TasksArgs>();
  TaskExportSettings& s = args->settings;
  CLI::App* cmd = app.add_subcommand(
      "tasks", "Write RULER-style task samples as JSON lines (the samples `run --task` would run)");
  cmd->add_option("--task", s.tasks,
                  "Tasks: niah_single_1..3, niah_multikey_1..3, niah_multivalue, niah_multiquery, vt, cwe, fwe, "
                  "qa_1, qa_2")
      ->delimiter(',')
      ->required();
  cmd->add_option("--seq-len", s.seq_lens, "Prompt lengths in tokens (BOS / chat template included), as run --seq-len")
      ->delimiter(',')
      ->required();
  cmd->add_option("--samples", s.samples, "Samples per task and length")->capture_default_str();
  cmd->add_option("--seed", s.seed, "Seed (as run --seed: the same seed gives run --task's samples)")
      ->capture_default_str();
  cmd->add_option("--tokenizer", args->tokenizer_path, "tokenizer.json of a Llama-3 model")->required();
  cmd->add_flag("--chat-template", s.chat_template, "Frame prompts with the Llama-3.1 instruct template");
  cmd->add_option("--words", s.options.words_path, "Word list for essay haystacks and cwe/fwe")->capture_default_str();
  cmd->add_option("--squad", s.options.squad_path, "SQuAD dev JSON for qa_1");
  cmd->add_option("--hotpotqa", s.options.hotpot_path, "HotpotQA dev JSON for qa_2");
  cmd->add_option("--threads", s.threads, "Generator threads (0: one per hardware thread)")->capture_default_str();
  cmd->add_flag("--ids", s.with_ids, "Also write the prompt's token ids (context_ids, query_ids) as run --task feeds them");
  cmd->add_option("--output,-o", args->output, "JSONL file to write (replaced whole, or left untouched on error)")
      ->required();
  cmd->callback([args] {
    if (Control::rank() != 0) return;
    write_tasks_file(*args);
  });
}

}  // namespace sb
