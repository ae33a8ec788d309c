#include "tasks/haystack.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace sb {
namespace {
// RULER's noise haystack sentences.
const char* const kNoise[] = {"The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.",
                              "There and back again."};

// separator + text (written out because GCC 12 warns falsely on "literal" + string).
std::string prefixed(std::string_view separator, std::string_view text) {
  std::string out;
  out.reserve(separator.size() + text.size());
  out.append(separator).append(text);
  return out;
}
}  // namespace

Haystack::Haystack(HaystackKind kind, uint64_t seed, const std::vector<std::string>* words,
                   std::function<std::string(TaskRng&)> distractor)
    : kind_(kind), rng_(seed), words_(words), distractor_(std::move(distractor)) {
  SB_REQUIRE(kind != HaystackKind::kEssay || (words && !words->empty()), "essay haystack needs a word list");
  SB_REQUIRE(kind != HaystackKind::kNeedle || distractor_, "needle haystack needs a distractor generator");
  if (kind == HaystackKind::kEssay) {
    // The dictionary is alphabetical: shuffle it once, with a fixed seed, so every
    // essay draws from the same vocabulary in which frequent words are random ones.
    for (const auto& w : *words_) prose_vocab_.push_back(&w);
    TaskRng vocab_rng(0x5EED0E55A7ull);
    vocab_rng.shuffle(prose_vocab_);
    prose_vocab_.resize(std::min<size_t>(prose_vocab_.size(), 20000));
  }
}

void Haystack::grow() {
  switch (kind_) {
    case HaystackKind::kNoise:
      units_.push_back(prefixed(" ", kNoise[units_.size() % 5]));
      boundary_.push_back(true);
      return;
    case HaystackKind::kNeedle:
      units_.push_back(prefixed(" ", distractor_(rng_)));
      boundary_.push_back(true);
      return;
    case HaystackKind::kEssay: {
      // One sentence of 6-18 words; common words are favoured (u^2 over a fixed
      // slice of the list) so the text has prose-like word repetition.
      const size_t vocab = prose_vocab_.size();
      const int64_t length = rng_.between(6, 18);
      const bool new_paragraph = sentences_in_paragraph_ >= 5 && rng_.below(3) == 0;
      sentences_in_paragraph_ = new_paragraph ? 0 : sentences_in_paragraph_ + 1;
      for (int64_t w = 0; w < length; ++w) {
        const double u = rng_.uniform();
        std::string word = *prose_vocab_[static_cast<size_t>(u * u * static_cast<double>(vocab))];
        if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
        if (w + 1 == length) word += '.';
        else if (w > 1 && rng_.below(12) == 0) word += ',';
        const bool starts_paragraph = w == 0 && new_paragraph;
        units_.push_back(prefixed(starts_paragraph ? "\n\n" : " ", word));
        boundary_.push_back(w == 0);
      }
      return;
    }
  }
}

std::string noise_padding(int64_t k) {
  std::string out;
  for (int64_t i = 0; i < k; ++i) out.append(" ").append(kNoise[i % 5]);
  return out;
}

const std::string& Haystack::unit(int64_t i) {
  while (static_cast<int64_t>(units_.size()) <= i) grow();
  return units_[i];
}

bool Haystack::boundary_before(int64_t i) {
  unit(i);
  return boundary_[i];
}

std::string haystack_with_needles(Haystack& haystack, int64_t n, const std::vector<Needle>& needles,
                                  std::vector<double>* used_depths) {
  std::vector<std::pair<int64_t, size_t>> placed;  // (position, needle index)
  for (size_t k = 0; k < needles.size(); ++k) {
    const int64_t want = std::llround(std::clamp(needles[k].depth, 0.0, 1.0) * static_cast<double>(n));
    int64_t pos = want;
    // Nearest boundary; position n (the very end) is always allowed.
    for (int64_t d = 0; d <= n; ++d) {
      if (want - d >= 0 && (want - d == n || haystack.boundary_before(want - d))) { pos = want - d; break; }
      if (want + d <= n && (want + d == n || haystack.boundary_before(want + d))) { pos = want + d; break; }
    }
    placed.emplace_back(pos, k);
  }
  std::stable_sort(placed.begin(), placed.end());
  if (used_depths) {
    used_depths->assign(needles.size(), 0.0);
    for (auto [pos, k] : placed) (*used_depths)[k] = n > 0 ? static_cast<double>(pos) / static_cast<double>(n) : 0.0;
  }
  std::string out;
  size_t next = 0;
  for (int64_t i = 0; i <= n; ++i) {
    while (next < placed.size() && placed[next].first == i) out += " " + needles[placed[next++].second].text;
    if (i < n) out += haystack.unit(i);
  }
  // The first unit's separator would start the haystack with a space.
  const size_t start = out.find_first_not_of(" \n");
  return start == std::string::npos ? std::string() : out.substr(start);
}

}  // namespace sb
