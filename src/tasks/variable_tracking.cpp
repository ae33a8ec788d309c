// RULER variable tracking (vt): a chain "VAR A = 12345", "VAR B = VAR A", ...
// hidden in the noise haystack; the answer is every variable holding the value.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "tasks/haystack.h"
#include "tasks/rng.h"
#include "tasks/sizing.h"
#include "tasks/task_generators.h"

namespace sb {

namespace {
constexpr int kNumChains = 1;  // RULER synthetic.yaml: num_chains 1, num_hops 4
constexpr int kNumHops = 4;
}  // namespace

TaskSample make_variable_tracking_sample(const SampleRequest& r) {
  TaskRng rng(r.seed);
  std::set<std::string> used;
  auto new_variable = [&] {
    std::string name;
    do {
      name.clear();
      for (int i = 0; i < 5; ++i) name.push_back(static_cast<char>('A' + rng.below(26)));
    } while (!used.insert(name).second);
    return name;
  };
  std::vector<Needle> needles;
  std::vector<std::string> answers;
  std::string queried_value;
  for (int c = 0; c < kNumChains; ++c) {
    const std::string value = std::to_string(rng.between(10000, 99999));
    std::vector<std::string> chain;
    for (int h = 0; h <= kNumHops; ++h) chain.push_back(new_variable());
    // Assignments appear in chain order, at increasing random depths.
    std::vector<double> depths;
    for (int h = 0; h <= kNumHops; ++h) depths.push_back(rng.uniform());
    std::sort(depths.begin(), depths.end());
    for (int h = 0; h <= kNumHops; ++h) {
      const std::string rhs = h == 0 ? value : "VAR " + chain[h - 1];
      needles.push_back({depths[h], fmt::format("VAR {} = {}", chain[h], rhs)});
    }
    if (c == 0) {
      queried_value = value;
      answers = chain;
    }
  }
  Haystack haystack(HaystackKind::kNoise, rng.next(), nullptr);
  const PromptBuilder build = [&](int64_t units, int64_t /*fine*/) {
    BuiltPrompt p;
    std::vector<double> used_depths;
    p.context = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n" +
                haystack_with_needles(haystack, units, needles, &used_depths) + "\n";
    p.query = fmt::format(
        "Question: Find all variables that are assigned the value {0} in the text above. Answer: According to the "
        "chain(s) of variable assignment in the text above, {1} variables are assigned the value {0}, they are:",
        queried_value, answers.size());
    p.depth = used_depths.empty() ? -1 : used_depths[0];
    return p;
  };
  const SizedPrompt sized = fit_to_target(build, SizeLimits{}, r.target_tokens, r.options.tolerance, r.tokenizer,
                                          "vt sample " + std::to_string(r.index));
  return make_task_sample(sized, answers, "all");
}

}  // namespace sb
