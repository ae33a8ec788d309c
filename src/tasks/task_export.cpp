#include "tasks/task_export.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "tasks/rng.h"
#include "tasks/task_prompt.h"
#include "tasks/tasks.h"
#include "tasks/word_list.h"
#include "util/error.h"

namespace sb {
namespace {

struct WorkItem {
  const std::string* task;
  int64_t target_tokens;
  int64_t index;
};

int thread_count(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

void validate_task_export(const TaskExportSettings& s, const Tokenizer& tokenizer) {
  const std::vector<std::string> known = task_names();
  std::string known_list;
  for (const auto& name : known) known_list += (known_list.empty() ? "" : ", ") + name;
  SB_REQUIRE(!s.tasks.empty(), "--task lists no task (known: {})", known_list);
  SB_REQUIRE(!s.seq_lens.empty(), "--seq-len lists no length");
  SB_REQUIRE(s.samples >= 1, "--samples must be >= 1 (got {})", s.samples);
  SB_REQUIRE(s.threads >= 0, "--threads must be >= 0 (0: one per hardware thread; got {})", s.threads);
  bool needs_words = false;
  for (const std::string& task : s.tasks) {
    SB_REQUIRE(std::find(known.begin(), known.end(), task) != known.end(), "unknown task '{}' (known: {})", task,
               known_list);
    needs_words = needs_words || task_uses_word_list(task);
  }
  const int64_t scaffold = prompt_scaffold_tokens(tokenizer, s.chat_template);
  for (int64_t length : s.seq_lens) {
    SB_REQUIRE(length - scaffold >= 256,
               "--seq-len {} leaves {} tokens for the task text after {} (minimum 256)", length, length - scaffold,
               s.chat_template ? "the chat template" : "BOS");
  }
  if (needs_words) load_word_list(s.options.words_path);  // a missing word list fails here, not mid-way
}

std::string task_sample_json(const TaskSample& sample, int64_t target_tokens, int64_t num_samples, uint64_t seed,
                             const Tokenizer& tokenizer, bool chat_template, bool with_ids) {
  const PromptTokens prompt = tokenize_task_prompt(tokenizer, sample, chat_template);
  nlohmann::ordered_json line;
  line["task"] = sample.task;
  line["target_tokens"] = target_tokens;
  line["index"] = sample.index;
  line["samples"] = num_samples;
  line["seed"] = seed;
  line["sample_seed"] = sample_seed(sample.task, seed, sample.index);
  line["chat_template"] = chat_template;
  line["context"] = sample.context;
  line["query"] = sample.query;
  line["answers"] = sample.answers;
  line["metric"] = sample.metric;
  line["depth"] = sample.depth;
  line["context_tokens"] = sample.context_tokens;
  line["query_tokens"] = sample.query_tokens;
  line["prompt_tokens"] = static_cast<int64_t>(prompt.context.size() + prompt.query.size());
  line["answer_tokens"] = ruler_answer_tokens(sample.task);
  if (with_ids) {
    line["context_ids"] = prompt.context;
    line["query_ids"] = prompt.query;
  }
  return line.dump();
}

int64_t write_task_samples_jsonl(const TaskExportSettings& s, const Tokenizer& tokenizer, std::ostream& out) {
  validate_task_export(s, tokenizer);
  const int64_t scaffold = prompt_scaffold_tokens(tokenizer, s.chat_template);
  std::vector<WorkItem> work;
  for (const std::string& task : s.tasks) {
    for (int64_t length : s.seq_lens) {
      for (int64_t i = 0; i < s.samples; ++i) work.push_back({&task, length, i});
    }
  }
  const int threads = thread_count(s.threads);
  // Chunks of work run in parallel and are written in order before the next
  // chunk starts, so memory stays bounded for large training sets.
  const size_t chunk = static_cast<size_t>(threads) * 16;
  std::vector<std::string> lines;
  for (size_t begin = 0; begin < work.size(); begin += chunk) {
    const size_t end = std::min(work.size(), begin + chunk);
    lines.assign(end - begin, std::string());
    std::atomic<size_t> next{begin};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&] {
      for (size_t i = next++; i < end && !failed; i = next++) {
        try {
          const WorkItem& item = work[i];
          const TaskSample sample = generate_task_sample(*item.task, item.target_tokens - scaffold, item.index,
                                                         s.samples, s.seed, tokenizer, s.options);
          lines[i - begin] =
              task_sample_json(sample, item.target_tokens, s.samples, s.seed, tokenizer, s.chat_template, s.with_ids);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          failed = true;
        }
      }
    };
    std::vector<std::thread> pool;
    const size_t count = std::min<size_t>(static_cast<size_t>(threads), end - begin);
    for (size_t t = 1; t < count; ++t) pool.emplace_back(worker);
    worker();
    for (std::thread& thread : pool) thread.join();
    if (error) std::rethrow_exception(error);
    for (const std::string& line : lines) out << line << '\n';
    if (!out) fail("writing the samples failed: {}", std::strerror(errno));
  }
  return static_cast<int64_t>(work.size());
}

}  // namespace sb
