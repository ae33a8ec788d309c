#include "metrics/task_metric.h"

#include <map>
#include <set>

#include "metrics/ruler_score.h"
#include "util/error.h"

namespace sb {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string cut_at(const std::string& text, std::string_view marker) {
  const size_t at = text.find(marker);
  return at == std::string::npos ? text : text.substr(0, at);
}

const std::map<std::string, std::vector<std::string>>& label_table() {
  // booydar/babilong, babilong/metrics.py (TASK_LABELS), the five tasks the
  // released BABILong splits hold.
  static const std::vector<std::string> rooms = {"bathroom", "bedroom", "garden", "hallway", "kitchen", "office"};
  static const std::map<std::string, std::vector<std::string>> table = {
      {"qa1", rooms}, {"qa2", rooms}, {"qa3", rooms}, {"qa4", rooms},
      {"qa5", {"Bill", "Fred", "Jeff", "Mary", "apple", "football", "milk"}}};
  return table;
}

}  // namespace

TaskMetric TaskMetric::parse(std::string_view name) {
  TaskMetric metric;
  if (name == "all") return metric;
  if (name == "part") {
    metric.kind = Kind::match_part;
    return metric;
  }
  constexpr std::string_view prefix = "babilong:";
  if (name.substr(0, prefix.size()) == prefix) {
    metric.kind = Kind::babilong;
    metric.babilong_task = std::string(name.substr(prefix.size()));
    if (label_table().count(metric.babilong_task)) return metric;
  }
  fail("unknown task metric '{}' (valid: all, part, babilong:qa1 .. babilong:qa5)", name);
}

std::string TaskMetric::name() const {
  switch (kind) {
    case Kind::match_all: return "all";
    case Kind::match_part: return "part";
    case Kind::babilong: return "babilong:" + babilong_task;
  }
  return "all";
}

const std::vector<std::string>& babilong_labels(const std::string& task) {
  const auto found = label_table().find(task);
  SB_REQUIRE(found != label_table().end(), "BABILong task '{}' has no label set (valid: qa1 .. qa5)", task);
  return found->second;
}

bool babilong_match(std::string_view target, std::string_view output, std::string_view question,
                    const std::vector<std::string>& labels) {
  // babilong's preprocess_output also cuts at 'Question' after lower-casing,
  // which never matches; it is left out here for the same behaviour.
  const std::string answer = cut_at(cut_at(cut_at(lower(output), "."), "<context>"), "<example>");
  const std::string lowered_question = lower(question);
  std::set<std::string> in_output;
  for (const std::string& label : labels) {
    const std::string lowered = lower(label);
    if (lowered_question.find(lowered) != std::string::npos) continue;  // mentions in questions are never targets
    if (answer.find(lowered) != std::string::npos) in_output.insert(lowered);
  }
  return in_output.size() == 1 && *in_output.begin() == lower(target);
}

double score_sample(const TaskMetric& metric, std::string_view prediction, const std::vector<std::string>& answers,
                    std::string_view question) {
  switch (metric.kind) {
    case TaskMetric::Kind::match_all:
      return string_match_all(ruler_postprocess_prediction(prediction), answers);
    case TaskMetric::Kind::match_part:
      return string_match_part(ruler_postprocess_prediction(prediction), answers);
    case TaskMetric::Kind::babilong: {
      SB_REQUIRE(answers.size() == 1, "BABILong samples have one target (got {})", answers.size());
      return babilong_match(answers.front(), prediction, question, babilong_labels(metric.babilong_task)) ? 1.0 : 0.0;
    }
  }
  return 0.0;
}

}  // namespace sb
