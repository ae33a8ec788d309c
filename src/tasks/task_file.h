#pragma once
// A user's own samples (`run --task-file FILE.jsonl`), one JSON object per line,
// in either of the formats long-context tools write:
//   Star Attention's (NVIDIA/Star-Attention):  {"index"?, "input_context", "input_query",
//                                               "output": "..." | ["...", ...]}
//   RULER's prepared data (NVIDIA/RULER):      {"index"?, "input", "outputs": [...],
//                                               "answer_prefix"?}
// RULER's `input` is the whole prompt: it is split where its templates put the
// question, at the start of its last non-empty line (the question line; with a
// chat template, the question line and the assistant header). The query is that
// line, what follows it and the `answer_prefix`; the context is everything before.
// A file is read and checked whole before anything runs: a malformed line is
// refused with its line number.
#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task_sample.h"

namespace sb {

enum class TaskFileFormat { star_attention, ruler };

struct TaskFile {
  std::string path;
  std::string name;  // "file:<the file's stem>": the task its samples and records carry
  TaskFileFormat format = TaskFileFormat::star_attention;
  std::vector<TaskSample> samples;  // context, query, answers, index; metric = the given metric's name
};

// Reads and checks FILE; `metric` is recorded as every sample's metric (a
// TaskMetric name, checked by the caller). Throws sb::Error "FILE:LINE: reason".
TaskFile read_task_file(const std::string& path, const std::string& metric);

// Where the query of a RULER prompt starts (the split documented above).
size_t ruler_query_start(const std::string& input);

const char* task_file_format_name(TaskFileFormat format);
// A task of a user's file ("file:<stem>"), not a generated one.
bool is_task_file_task(const std::string& task);
// The task a file's samples carry: "file:" + the file's stem.
std::string task_file_task_name(const std::string& path);

}  // namespace sb
