#include <gtest/gtest.h>

#include "metrics/ruler_score.h"
#include "util/error.h"

namespace sb {
namespace {

TEST(RulerScore, MatchAllIsFractionFoundCaseInsensitive) {
  EXPECT_DOUBLE_EQ(string_match_all("The numbers are 123 and 456.", {"123", "456"}), 1.0);
  EXPECT_DOUBLE_EQ(string_match_all("The numbers are 123.", {"123", "456"}), 0.5);
  EXPECT_DOUBLE_EQ(string_match_all("nothing here", {"123", "456", "789"}), 0.0);
  EXPECT_DOUBLE_EQ(string_match_all("APPLE, Banana", {"apple", "banana", "cherry", "date"}), 0.5);
  // Substring, as RULER: "1234" contains "123".
  EXPECT_DOUBLE_EQ(string_match_all("1234", {"123"}), 1.0);
}

TEST(RulerScore, MatchPartIsMaxOverReferences) {
  EXPECT_DOUBLE_EQ(string_match_part("It was Paris.", {"London", "paris"}), 1.0);
  EXPECT_DOUBLE_EQ(string_match_part("It was Rome.", {"London", "paris"}), 0.0);
  EXPECT_DOUBLE_EQ(string_match_part("London and Paris", {"London", "paris"}), 1.0);
}

TEST(RulerScore, TaskScoreIsMeanTimes100) {
  const std::vector<std::string> preds = {"a b", "a", "  \x01 c\n"};
  const std::vector<std::vector<std::string>> refs = {{"a", "b"}, {"a", "b"}, {"c"}};
  EXPECT_NEAR(ruler_task_score("all", preds, refs), (1.0 + 0.5 + 1.0) / 3 * 100, 1e-12);
  EXPECT_NEAR(ruler_task_score("part", preds, refs), 100.0, 1e-12);
  EXPECT_EQ(ruler_postprocess_prediction("  \x01 c\n"), "c");
}

TEST(RulerScore, RejectsBadInput) {
  EXPECT_THROW(ruler_sample_score("exact", "x", {"x"}), Error);
  EXPECT_THROW(string_match_all("x", {}), Error);
  EXPECT_THROW(ruler_task_score("all", {"x"}, {}), Error);
}

}  // namespace
}  // namespace sb
