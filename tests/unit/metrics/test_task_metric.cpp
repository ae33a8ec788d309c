#include <gtest/gtest.h>

#include "metrics/task_metric.h"
#include "util/error.h"

namespace sb {
namespace {

TEST(TaskMetric, ParsesEveryNameAndRefusesOthers) {
  EXPECT_EQ(TaskMetric::parse("all").kind, TaskMetric::Kind::match_all);
  EXPECT_EQ(TaskMetric::parse("part").kind, TaskMetric::Kind::match_part);
  const TaskMetric qa3 = TaskMetric::parse("babilong:qa3");
  EXPECT_EQ(qa3.kind, TaskMetric::Kind::babilong);
  EXPECT_EQ(qa3.name(), "babilong:qa3");
  EXPECT_EQ(TaskMetric::parse("part").name(), "part");
  for (const char* bad : {"", "All", "babilong", "babilong:qa6", "exact"}) {
    EXPECT_THROW(TaskMetric::parse(bad), Error) << bad;
  }
}

TEST(TaskMetric, RulerMetricsMatchRulerScores) {
  EXPECT_DOUBLE_EQ(score_sample(TaskMetric::parse("all"), " 12 and 34\n", {"12", "34", "56", "78"}, ""), 0.5);
  EXPECT_DOUBLE_EQ(score_sample(TaskMetric::parse("part"), "only 34", {"12", "34"}, ""), 1.0);
  EXPECT_DOUBLE_EQ(score_sample(TaskMetric::parse("part"), "none", {"12", "34"}, ""), 0.0);
}

TEST(TaskMetric, BabilongTargetMustBeTheOnlyLabelNotInTheQuestion) {
  const TaskMetric qa1 = TaskMetric::parse("babilong:qa1");
  const std::string question = "Where is Mary?";
  EXPECT_DOUBLE_EQ(score_sample(qa1, "Mary is in the Kitchen.", {"kitchen"}, question), 1.0);
  // Two candidate labels: not an answer.
  EXPECT_DOUBLE_EQ(score_sample(qa1, "the kitchen or the garden", {"kitchen"}, question), 0.0);
  // Only the first sentence counts.
  EXPECT_DOUBLE_EQ(score_sample(qa1, "In the garden. Before that the kitchen", {"kitchen"}, question), 0.0);
  EXPECT_DOUBLE_EQ(score_sample(qa1, "kitchen<example>garden", {"kitchen"}, question), 1.0);
  // Labels the question names are never taken as predictions.
  EXPECT_DOUBLE_EQ(
      score_sample(qa1, "She went from the hallway to the office", {"office"}, "Where was Mary before the hallway?"),
      1.0);
  // qa5's labels are names and objects, matched case-insensitively.
  EXPECT_DOUBLE_EQ(score_sample(TaskMetric::parse("babilong:qa5"), "Fred", {"Fred"}, "Who received the milk?"), 1.0);
  EXPECT_DOUBLE_EQ(score_sample(TaskMetric::parse("babilong:qa5"), "Jeff gave it to Fred", {"Fred"},
                                "Who received the milk?"),
                   0.0);
}

}  // namespace
}  // namespace sb
