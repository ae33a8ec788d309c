#pragma once
// Fits a prompt to a token budget: a task describes its prompt as a function of a
// haystack size in units (sentences, words, list items) and this finds the unit
// count whose context + query tokens land within tolerance of the target. Tasks
// whose units are coarse (whole distractor needles) also take a fine count of
// short padding sentences, used only when whole units cannot hit the target.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tasks/task_sample.h"
#include "tokenizer/tokenizer.h"

namespace sb {

struct BuiltPrompt {
  std::string context;
  std::string query;
  double depth = -1;
};

struct SizedPrompt {
  BuiltPrompt prompt;
  int64_t context_tokens = 0;
  int64_t query_tokens = 0;
};

using PromptBuilder = std::function<BuiltPrompt(int64_t units, int64_t fine)>;

struct SizeLimits {
  int64_t max_units = int64_t{1} << 40;
  int64_t max_fine = 0;  // 0: the builder has no fine padding
};

// Secant steps on the (near linear) tokens-vs-units curve, then bisection; each
// step encodes the whole prompt once. Throws sb::Error naming `what` when the
// template alone exceeds the target or the limits cannot reach it.
SizedPrompt fit_to_target(const PromptBuilder& build, SizeLimits limits, int64_t target_tokens, double tolerance,
                          const Tokenizer& tokenizer, const std::string& what);

// The sample a generator returns: the fitted prompt, its answers and RULER's
// metric ("all" = string_match_all, "part" = string_match_part).
TaskSample make_task_sample(const SizedPrompt& sized, std::vector<std::string> answers, std::string metric);

}  // namespace sb
