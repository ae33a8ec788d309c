#include "metrics/ruler_score.h"

#include <algorithm>

#include "util/error.h"

namespace sb {
std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

namespace {

bool contains_ci(const std::string& lowered_haystack, const std::string& needle) {
  return lowered_haystack.find(ascii_lower(needle)) != std::string::npos;
}

}  // namespace

std::string ruler_postprocess_prediction(std::string_view prediction) {
  std::string out(prediction);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = '\n';
  }
  const char* ws = " \t\n\r\v\f";
  const size_t begin = out.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  return out.substr(begin, out.find_last_not_of(ws) - begin + 1);
}

double string_match_all(std::string_view prediction, const std::vector<std::string>& references) {
  SB_REQUIRE(!references.empty(), "string_match_all: a sample has no reference answers");
  const std::string pred = ascii_lower(prediction);
  double found = 0;
  for (const auto& ref : references) found += contains_ci(pred, ref) ? 1.0 : 0.0;
  return found / static_cast<double>(references.size());
}

double string_match_part(std::string_view prediction, const std::vector<std::string>& references) {
  SB_REQUIRE(!references.empty(), "string_match_part: a sample has no reference answers");
  const std::string pred = ascii_lower(prediction);
  const bool any = std::any_of(references.begin(), references.end(),
                               [&](const std::string& ref) { return contains_ci(pred, ref); });
  return any ? 1.0 : 0.0;
}

double ruler_sample_score(const std::string& metric, std::string_view prediction,
                          const std::vector<std::string>& references) {
  if (metric == "all") return string_match_all(prediction, references);
  if (metric == "part") return string_match_part(prediction, references);
  fail("ruler score: unknown metric \"{}\" (expected \"all\" or \"part\")", metric);
}

double ruler_task_score(const std::string& metric, const std::vector<std::string>& predictions,
                        const std::vector<std::vector<std::string>>& references) {
  SB_REQUIRE(predictions.size() == references.size(), "ruler score: {} predictions but {} reference lists",
             predictions.size(), references.size());
  SB_REQUIRE(!predictions.empty(), "ruler score: no samples to score");
  double sum = 0;
  for (size_t i = 0; i < predictions.size(); ++i) {
    sum += ruler_sample_score(metric, ruler_postprocess_prediction(predictions[i]), references[i]);
  }
  return sum / static_cast<double>(predictions.size()) * 100.0;
}

}  // namespace sb
