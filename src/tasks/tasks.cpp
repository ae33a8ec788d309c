#include "tasks/tasks.h"

#include <algorithm>

#include "tasks/rng.h"
#include "tasks/task_generators.h"
#include "util/error.h"

namespace sb {

std::vector<std::string> task_names() {
  return {"niah_single_1", "niah_single_2",   "niah_single_3",   "niah_multikey_1", "niah_multikey_2",
          "niah_multikey_3", "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2"};
}

bool task_uses_word_list(const std::string& task) { return task.rfind("niah_", 0) == 0 || task == "cwe"; }

TaskSample generate_task_sample(const std::string& task, int64_t target_tokens, int64_t index, int64_t num_samples,
                                uint64_t seed, const Tokenizer& tokenizer, const TaskOptions& options) {
  const auto names = task_names();
  if (std::find(names.begin(), names.end(), task) == names.end()) {
    std::string all;
    for (const auto& name : names) all += (all.empty() ? "" : ", ") + name;
    fail("tasks: unknown task \"{}\" (known: {})", task, all);
  }
  SB_REQUIRE(num_samples > 0, "tasks: number of samples must be positive, got {}", num_samples);
  SB_REQUIRE(index >= 0 && index < num_samples, "tasks: sample index {} out of [0, {})", index, num_samples);
  SB_REQUIRE(target_tokens >= 256, "tasks: target length {} tokens is too small (minimum 256)", target_tokens);
  SB_REQUIRE(options.tolerance > 0 && options.tolerance < 0.5, "tasks: tolerance {} out of (0, 0.5)", options.tolerance);
  SB_REQUIRE(options.depth <= 1.0, "tasks: depth {} out of [0, 1]", options.depth);
  // Depths spread evenly over [0, 1] across samples, as RULER sweeps needle depth.
  const double depth = options.depth >= 0 ? options.depth
                       : num_samples == 1 ? 0.5
                                          : static_cast<double>(index) / static_cast<double>(num_samples - 1);
  const SampleRequest request{task, index, sample_seed(task, seed, index), depth, target_tokens, tokenizer, options};
  TaskSample sample;
  if (task.rfind("niah_", 0) == 0) sample = make_niah_sample(request);
  else if (task == "vt") sample = make_variable_tracking_sample(request);
  else if (task == "cwe") sample = make_common_words_sample(request);
  else if (task == "fwe") sample = make_frequent_words_sample(request);
  else sample = make_qa_sample(request);
  sample.task = task;
  sample.index = index;
  return sample;
}

std::vector<TaskSample> generate_task_samples(const std::string& task, int64_t target_tokens, int num_samples,
                                              uint64_t seed, const Tokenizer& tokenizer, const TaskOptions& options) {
  SB_REQUIRE(num_samples > 0, "tasks: number of samples must be positive, got {}", num_samples);
  std::vector<TaskSample> samples;
  for (int i = 0; i < num_samples; ++i) {
    samples.push_back(generate_task_sample(task, target_tokens, i, num_samples, seed, tokenizer, options));
  }
  return samples;
}

}  // namespace sb
