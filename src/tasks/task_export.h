#pragma once
// RULER-style samples written out as JSON lines (`starbench tasks`), from the
// same generator and prompt framing `run --task` uses: one object per sample
// with its text, answers, needle depth, token counts and seeds. Samples are
// generated on several threads and written in (task, length, index) order, so
// the output is the same whatever the thread count.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tasks/task_sample.h"
#include "tokenizer/tokenizer.h"

namespace sb {

struct TaskExportSettings {
  std::vector<std::string> tasks;
  std::vector<int64_t> seq_lens;  // prompt lengths in tokens (BOS / template included), as `run --seq-len`
  int64_t samples = 1;            // per task and length
  uint64_t seed = 1234;
  bool chat_template = false;
  bool with_ids = false;          // also write the prompt's token ids
  int threads = 0;                // 0: one per hardware thread
  TaskOptions options;
};

// Throws sb::Error naming the flag when a setting cannot work; called before any
// generation so bad input never produces output.
void validate_task_export(const TaskExportSettings& settings, const Tokenizer& tokenizer);

// Generates every sample and writes one JSON object per line to out. Returns
// the number of lines. The first generator error stops the work and is rethrown
// (out then holds a prefix of the lines; callers writing a file discard it).
int64_t write_task_samples_jsonl(const TaskExportSettings& settings, const Tokenizer& tokenizer, std::ostream& out);

// One sample as its JSON line (no trailing newline); target_tokens is the prompt
// length it was made for, num_samples the size of its set.
std::string task_sample_json(const TaskSample& sample, int64_t target_tokens, int64_t num_samples, uint64_t seed,
                             const Tokenizer& tokenizer, bool chat_template, bool with_ids);

}  // namespace sb
