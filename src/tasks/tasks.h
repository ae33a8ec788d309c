#pragma once
// RULER's synthetic tasks (arXiv 2404.06654) sized in tokens of a given tokenizer.
// docs/TASKS.md lists the templates and where we deviate from RULER.
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task_sample.h"
#include "tokenizer/tokenizer.h"

namespace sb {

std::vector<std::string> task_names();
// Whether the task's samples depend on the word list (--words): the niah tasks'
// essay haystacks and cwe.
bool task_uses_word_list(const std::string& task);

// num_samples samples of task, each with context + query within options.tolerance
// of target_tokens. Deterministic in (task, target_tokens, seed, index, word list).
std::vector<TaskSample> generate_task_samples(const std::string& task, int64_t target_tokens, int num_samples,
                                              uint64_t seed, const Tokenizer& tokenizer, const TaskOptions& options);

// Sample `index` of such a set of num_samples (its needle depth is spread over
// the set): the same sample generate_task_samples returns at that index.
// Thread-safe; throws sb::Error for an unknown task or a bad size.
TaskSample generate_task_sample(const std::string& task, int64_t target_tokens, int64_t index, int64_t num_samples,
                                uint64_t seed, const Tokenizer& tokenizer, const TaskOptions& options);

}  // namespace sb
