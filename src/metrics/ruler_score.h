#pragma once
// RULER's scoring (NVIDIA/RULER scripts/eval/synthetic/constants.py):
//   string_match_all  = fraction of the references found in the prediction
//   string_match_part = 1 if any reference is found (max over references)
// both case-insensitive substring tests, per sample in [0, 1]; a task's score is
// the mean over its samples times 100.
#include <string>
#include <string_view>
#include <vector>

namespace sb {

// ASCII lowercase. RULER uses Python's str.lower(), which also folds non-ASCII
// letters; every RULER answer (numbers, uuids, English words) is ASCII, and the
// task metrics built on it (task_metric.h) compare ASCII labels the same way.
std::string ascii_lower(std::string_view text);

// RULER's postprocess_pred: control characters become '\n', then surrounding
// whitespace is stripped.
std::string ruler_postprocess_prediction(std::string_view prediction);

double string_match_all(std::string_view prediction, const std::vector<std::string>& references);
double string_match_part(std::string_view prediction, const std::vector<std::string>& references);

// metric is "all" (string_match_all) or "part" (string_match_part); throws sb::Error otherwise.
double ruler_sample_score(const std::string& metric, std::string_view prediction,
                          const std::vector<std::string>& references);

// Mean of the per-sample scores times 100; predictions are postprocessed first.
double ruler_task_score(const std::string& metric, const std::vector<std::string>& predictions,
                        const std::vector<std::vector<std::string>>& references);

}  // namespace sb
