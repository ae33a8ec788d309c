// starbench tasks: RULER-style samples as JSON lines (RULER's "prepare" step),
// from the generator, tokenizer and prompt framing `run --task` uses. Written
// to a temporary file renamed over the output at the end, so an error never
// leaves a partial file; SIGINT / SIGTERM / SIGHUP remove the temporary file,
// and copies left by killed processes (SIGKILL) are removed by the next run.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "cli/commands.h"
#include "io/file_commit.h"
#include "tasks/task_export.h"
#include "tokenizer/tokenizer.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

// The temporary file being written, for the signal handler (unlink is
// async-signal-safe; the path is copied here before the handler is installed).
char g_temporary[4096] = {};

extern "C" void remove_temporary_and_reraise(int signal_number) {
  if (g_temporary[0] != '\0') ::unlink(g_temporary);
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

// While alive: a signal that ends the process removes the temporary file first.
class TemporaryFileSignals {
 public:
  explicit TemporaryFileSignals(const std::string& path) {
    std::snprintf(g_temporary, sizeof g_temporary, "%s", path.c_str());
    struct sigaction action {};
    action.sa_handler = remove_temporary_and_reraise;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &action, &previous_[i]);
  }
  ~TemporaryFileSignals() {
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &previous_[i], nullptr);
    g_temporary[0] = '\0';
  }
  TemporaryFileSignals(const TemporaryFileSignals&) = delete;
  TemporaryFileSignals& operator=(const TemporaryFileSignals&) = delete;

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction previous_[std::size(kSignals)] {};
};

// Copies named ".<output>.tmp-<pid>" by earlier starbench versions whose process is gone.
void remove_legacy_temporaries(const fs::path& parent, const std::string& file_name) {
  const std::string prefix = "." + file_name + ".tmp-";
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (*end == '\0' && pid > 0 && ::kill(pid_t(pid), 0) == -1 && errno == ESRCH) fs::remove(entry.path(), ec);
  }
}

// An output that is one of the inputs would be replaced by the samples made from it.
void refuse_input_as_output(const fs::path& output, const std::string& input, const char* flag) {
  std::error_code ec;
  if (input.empty() || !fs::exists(output, ec) || !fs::exists(input, ec)) return;
  SB_REQUIRE(!fs::equivalent(output, input, ec),
             "--output {} is the {} file ({} {}): the samples would overwrite it; choose another --output",
             output.string(), flag + 2, flag, input);
}

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
  refuse_input_as_output(output, args.tokenizer_path, "--tokenizer");
  refuse_input_as_output(output, args.settings.options.words_path, "--words");
  refuse_input_as_output(output, args.settings.options.squad_path, "--squad");
  refuse_input_as_output(output, args.settings.options.hotpot_path, "--hotpotqa");
  const Tokenizer tokenizer = Tokenizer::load(args.tokenizer_path);
  validate_task_export(args.settings, tokenizer);

  remove_stale_temporaries(output.string());
  remove_legacy_temporaries(parent, output.filename().string());
  const fs::path temporary = temporary_path(output.string());
  const auto start = std::chrono::steady_clock::now();
  int64_t lines = 0;
  try {
    const TemporaryFileSignals cleanup(temporary.string());
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    SB_REQUIRE(out.good(), "--output {}: cannot write {}: {}", args.output, temporary.string(), std::strerror(errno));
    try {
      lines = write_task_samples_jsonl(args.settings, tokenizer, out);
    } catch (const Error& error) {
      if (out.good()) throw;
      fail("--output {}: {} (into {})", args.output, error.what(), temporary.string());
    }
    out.close();
    SB_REQUIRE(!out.fail(), "--output {}: writing {} failed: {}", args.output, temporary.string(),
               std::strerror(errno));
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
