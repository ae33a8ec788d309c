// RULER aggregation tasks: common words extraction (cwe) over a numbered word
// list, and frequent words extraction (fwe) over Zipf-distributed coded words.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "tasks/rng.h"
#include "tasks/sizing.h"
#include "tasks/task_generators.h"
#include "tasks/word_list.h"
#include "util/error.h"

namespace sb {

namespace {
constexpr int kNumCommon = 10;   // RULER cwe: num_cw 10, freq_cw 30, freq_ucw 3
constexpr int kFreqCommon = 30;
constexpr int kFreqUncommon = 3;
constexpr double kZipfAlpha = 2.0;  // RULER fwe: alpha 2.0
constexpr int kFweAnswers = 3;

}  // namespace

TaskSample make_common_words_sample(const SampleRequest& r) {
  const auto& all_words = load_word_list(r.options.words_path);
  TaskRng rng(r.seed);
  std::vector<size_t> order(all_words.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.shuffle(order);
  std::vector<std::string> common, uncommon;
  for (size_t i = 0; i < order.size(); ++i) (i < kNumCommon ? common : uncommon).push_back(all_words[order[i]]);
  const uint64_t list_seed = rng.next();
  int freq_common = kFreqCommon;
  const PromptBuilder build = [&](int64_t units, int64_t /*fine*/) {
    std::vector<const std::string*> list;
    for (const auto& w : common) list.insert(list.end(), freq_common, &w);
    for (int64_t j = 0; j < units; ++j) list.insert(list.end(), kFreqUncommon, &uncommon[j % uncommon.size()]);
    TaskRng shuffle_rng(list_seed);
    shuffle_rng.shuffle(list);
    std::string text;
    for (size_t i = 0; i < list.size(); ++i) text += fmt::format("{}{}. {}", i ? " " : "", i + 1, *list[i]);
    BuiltPrompt p;
    p.context = "Below is a numbered list of words. In these words, some appear more often than others. Memorize the "
                "ones that appear most often.\n" + text + "\n";
    p.query = fmt::format("Question: What are the {0} most common words in the above list? Answer: The top {0} words "
                          "that appear most often in the list are:", kNumCommon);
    return p;
  };
  // Short targets cannot hold 10 x 30 common words: like RULER, lower their
  // frequency (never to 2 x the uncommon frequency or below) until they take at
  // most half the budget.
  while (freq_common > 2 * kFreqUncommon + 1) {
    const BuiltPrompt p = build(0, 0);
    const auto tokens = r.tokenizer.encode(p.context, false).size() + r.tokenizer.encode(p.query, false).size();
    if (static_cast<int64_t>(tokens) * 2 <= r.target_tokens) break;
    freq_common = std::max(2 * kFreqUncommon + 1, freq_common * 2 / 3);
  }
  // Uncommon word j is uncommon[j % size]: past the list's end words repeat, and
  // stay strictly rarer than the common ones.
  const int64_t repeats = (freq_common - 1) / kFreqUncommon;
  const SizeLimits limits{static_cast<int64_t>(uncommon.size()) * repeats, 0};
  const SizedPrompt sized = fit_to_target(build, limits, r.target_tokens, r.options.tolerance, r.tokenizer,
                                          "cwe sample " + std::to_string(r.index));
  return make_task_sample(sized, common, "all");
}

TaskSample make_frequent_words_sample(const SampleRequest& r) {
  TaskRng rng(r.seed);
  // Coded words: distinct random lower-case strings, ranked for a Zipf law.
  constexpr int kVocab = 4096;
  std::set<std::string> seen;
  std::vector<std::string> vocab;
  while (static_cast<int>(vocab.size()) < kVocab) {
    std::string w;
    const int64_t length = rng.between(3, 7);
    for (int64_t i = 0; i < length; ++i) w.push_back(static_cast<char>('a' + rng.below(26)));
    if (seen.insert(w).second) vocab.push_back(w);
  }
  // The three most frequent ranks get their expected Zipf counts exactly (so the
  // answer is stable even in short texts); every other word is drawn from ranks
  // 4.. with probability proportional to k^-alpha.
  std::vector<double> weight(kVocab);
  double sum = 0;
  for (int k = 0; k < kVocab; ++k) sum += (weight[k] = std::pow(k + 1.0, -kZipfAlpha));
  std::vector<double> tail_cdf;
  double tail = 0;
  for (int k = kFweAnswers; k < kVocab; ++k) tail_cdf.push_back(tail += weight[k]);
  for (double& c : tail_cdf) c /= tail;
  const uint64_t text_seed = rng.next();
  const PromptBuilder build = [&](int64_t units, int64_t /*fine*/) {
    TaskRng stream(text_seed);
    int64_t quota[kFweAnswers];
    int64_t quota_sum = 0;
    for (int k = 0; k < kFweAnswers; ++k) quota_sum += quota[k] = std::llround(double(units) * weight[k] / sum);
    std::vector<int> words;
    std::map<int, int64_t> tail_counts;
    int64_t tail_max = 0;
    for (int64_t i = quota_sum; i < units; ++i) {
      const double u = stream.uniform();
      const int k = kFweAnswers + static_cast<int>(std::lower_bound(tail_cdf.begin(), tail_cdf.end(), u) - tail_cdf.begin());
      words.push_back(k);
      tail_max = std::max(tail_max, ++tail_counts[k]);
    }
    // Short texts: keep the top three strictly above every other word and each other.
    for (int k = kFweAnswers - 1; k >= 0; --k) {
      quota[k] = std::max(quota[k], (k == kFweAnswers - 1 ? tail_max : quota[k + 1]) + 1);
      words.insert(words.end(), static_cast<size_t>(quota[k]), k);
    }
    stream.shuffle(words);
    std::string text;
    for (size_t i = 0; i < words.size(); ++i) {
      if (i) text += ' ';
      if (stream.below(8) == 0) text += ".... ";  // RULER's coded text is broken up by dots
      text += vocab[words[i]];
    }
    BuiltPrompt p;
    p.context = "Read the following coded text and track the frequency of each coded word. Find the three most "
                "frequently appeared coded words. " + text + "\n";
    p.query = "Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most "
              "frequently appeared words in the above coded text? Answer: According to the coded text above, the "
              "three most frequently appeared words are:";
    return p;
  };
  const SizedPrompt sized = fit_to_target(build, SizeLimits{}, r.target_tokens, r.options.tolerance, r.tokenizer,
                                          "fwe sample " + std::to_string(r.index));
  // The answers are counted in the text actually emitted, not assumed from the ranks.
  std::vector<std::string> answers;
  std::map<std::string, int64_t> counts;
  {
    std::string_view text = sized.prompt.context;
    const std::string_view intro = "coded words. ";
    text.remove_prefix(text.find(intro) + intro.size());
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find_first_of(" \n", pos);
      if (end == std::string_view::npos) end = text.size();
      const std::string_view word = text.substr(pos, end - pos);
      if (!word.empty() && word != "....") ++counts[std::string(word)];
      pos = end + 1;
    }
  }
  std::vector<std::pair<int64_t, std::string>> ranked;
  for (const auto& [word, count] : counts) ranked.emplace_back(-count, word);
  std::sort(ranked.begin(), ranked.end());
  SB_REQUIRE(ranked.size() > kFweAnswers && ranked[kFweAnswers - 1].first < ranked[kFweAnswers].first,
             "fwe sample {}: the three most frequent words are not unique at {} tokens (target too small)", r.index,
             r.target_tokens);
  for (int k = 0; k < kFweAnswers; ++k) answers.push_back(ranked[k].second);
  return make_task_sample(sized, answers, "all");
}

}  // namespace sb
