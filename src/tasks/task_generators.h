#pragma once
// One generator per RULER task family; tasks.cpp dispatches by name.
#include <cstdint>
#include <string>

#include "tasks/task_sample.h"
#include "tokenizer/tokenizer.h"

namespace sb {

struct SampleRequest {
  const std::string& task;
  int64_t index;
  uint64_t seed;       // this sample's own seed
  double depth;        // requested needle depth in [0, 1]
  int64_t target_tokens;
  const Tokenizer& tokenizer;
  const TaskOptions& options;
};

TaskSample make_niah_sample(const SampleRequest& request);               // niah_*
TaskSample make_variable_tracking_sample(const SampleRequest& request);  // vt
TaskSample make_common_words_sample(const SampleRequest& request);       // cwe
TaskSample make_frequent_words_sample(const SampleRequest& request);     // fwe
TaskSample make_qa_sample(const SampleRequest& request);                 // qa_1, qa_2

}  // namespace sb
