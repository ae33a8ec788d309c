#pragma once
// How a task sample's answer is scored, chosen once per task (a generated task's
// own metric, or --task-metric for a user's file) and recorded per sample:
//   all          RULER's string_match_all (fraction of the references found)
//   part         RULER's string_match_part (1 if any reference is found)
//   babilong:qaN BABILong's answer match for its tasks qa1-qa5 (booydar/babilong,
//                babilong/metrics.py: the first sentence of the answer must name the
//                target and no other of the task's labels, labels the question names
//                excepted)
#include <string>
#include <string_view>
#include <vector>

namespace sb {

struct TaskMetric {
  enum class Kind { match_all, match_part, babilong };
  Kind kind = Kind::match_all;
  std::string babilong_task;  // qa1..qa5 for Kind::babilong

  // "all", "part" or "babilong:qa1".."babilong:qa5"; throws sb::Error naming the valid ones.
  static TaskMetric parse(std::string_view name);
  std::string name() const;
};

// One sample's score in [0, 1]. RULER's metrics postprocess the prediction first
// (ruler_postprocess_prediction); BABILong's keeps its own preprocessing.
double score_sample(const TaskMetric& metric, std::string_view prediction, const std::vector<std::string>& answers,
                    std::string_view question);

// BABILong's labels of task qa1..qa5 (babilong/metrics.py TASK_LABELS).
const std::vector<std::string>& babilong_labels(const std::string& task);
// BABILong's compare_answers: lower-cased, cut at the first '.', '<context>' and
// '<example>'; true when the target is the only label in the output that the
// question does not name.
bool babilong_match(std::string_view target, std::string_view output, std::string_view question,
                    const std::vector<std::string>& labels);

}  // namespace sb
