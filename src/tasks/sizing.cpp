#include "tasks/sizing.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "util/error.h"

namespace sb {
namespace {

struct Search {
  std::optional<SizedPrompt> found;  // within tolerance
  int64_t below = 0;                 // largest count measured under the target
  SizedPrompt best;                  // closest measured
};

}  // namespace

SizedPrompt fit_to_target(const PromptBuilder& build, SizeLimits limits, int64_t target, double tolerance,
                          const Tokenizer& tokenizer, const std::string& what) {
  SB_REQUIRE(target > 0, "{}: target length must be positive, got {}", what, target);
  const auto measure = [&](int64_t units, int64_t fine) {
    SizedPrompt s{build(units, fine), 0, 0};
    s.context_tokens = static_cast<int64_t>(tokenizer.encode(s.prompt.context, false).size());
    s.query_tokens = static_cast<int64_t>(tokenizer.encode(s.prompt.query, false).size());
    return s;
  };
  const auto total = [](const SizedPrompt& s) { return s.context_tokens + s.query_tokens; };
  const double slack = tolerance * static_cast<double>(target);
  const auto good = [&](const SizedPrompt& s) { return std::abs(static_cast<double>(total(s) - target)) <= slack; };

  // Searches count in [0, max] for measure(count) within tolerance; tokens grow with count.
  const auto search = [&](const std::function<SizedPrompt(int64_t)>& at, int64_t max) {
    Search result;
    SizedPrompt zero = at(0);
    result.best = zero;
    if (total(zero) > target) fail("{}: the template alone is {} tokens, over the target of {}", what, total(zero), target);
    if (good(zero)) { result.found = zero; return result; }
    int64_t lo = 0, hi = -1, t_lo = total(zero), t_hi = 0;
    int64_t count = std::min<int64_t>(max, 64);
    for (int step = 0; step < 48 && count > lo; ++step) {
      SizedPrompt s = at(count);
      const int64_t t = total(s);
      if (std::abs(t - target) < std::abs(total(result.best) - target)) result.best = s;
      if (good(s)) { result.found = s; return result; }
      if (t < target) { lo = count; t_lo = t; } else { hi = count; t_hi = t; }
      if (hi < 0 && lo >= max) break;  // the limit cannot reach the target
      if (hi >= 0 && hi - lo <= 1) break;
      // Secant estimate from the bracket (or from zero while unbracketed), kept strictly inside it.
      const double slope = hi < 0 ? std::max(1e-3, double(t_lo - total(zero)) / double(std::max<int64_t>(lo, 1)))
                                  : std::max(1e-3, double(t_hi - t_lo) / double(hi - lo));
      const int64_t next = lo + static_cast<int64_t>(std::llround(double(target - t_lo) / slope));
      count = hi >= 0 ? std::clamp<int64_t>(next, lo + 1, hi - 1) : std::clamp<int64_t>(next, lo + 1, max);
    }
    result.below = lo;
    return result;
  };

  Search coarse = search([&](int64_t units) { return measure(units, 0); }, limits.max_units);
  if (coarse.found) return *coarse.found;
  if (limits.max_fine > 0) {
    // Whole units overshoot or undershoot: pad the largest count under the target.
    const int64_t units = coarse.below;
    Search fine = search([&](int64_t f) { return measure(units, f); }, limits.max_fine);
    if (fine.found) return *fine.found;
  }
  fail("{}: could not size the prompt to {} tokens within {:.1f}% (closest: {} tokens)", what, target, tolerance * 100,
       total(coarse.best));
}

TaskSample make_task_sample(const SizedPrompt& sized, std::vector<std::string> answers, std::string metric) {
  TaskSample sample;
  sample.context = sized.prompt.context;
  sample.query = sized.prompt.query;
  sample.answers = std::move(answers);
  sample.depth = sized.prompt.depth;
  sample.context_tokens = sized.context_tokens;
  sample.query_tokens = sized.query_tokens;
  sample.metric = std::move(metric);
  return sample;
}

}  // namespace sb
