#pragma once
// Haystacks the needles hide in, as a lazily generated sequence of units (each
// with its leading separator), so a prompt can grow one unit at a time:
//   noise  - RULER's repeated sentences, one sentence per unit
//   essay  - generated prose from a word list, one word per unit (stands in for
//            RULER's Paul Graham essays, which we cannot ship; see docs/TASKS.md)
//   needle - distractor needles (RULER's "needle" haystack), one per unit
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tasks/rng.h"

namespace sb {

enum class HaystackKind { kNoise, kEssay, kNeedle };

class Haystack {
 public:
  // words: needed for kEssay; distractor: makes one unit of kNeedle.
  Haystack(HaystackKind kind, uint64_t seed, const std::vector<std::string>* words,
           std::function<std::string(TaskRng&)> distractor = {});

  const std::string& unit(int64_t i);
  // Whether a needle may go just before unit i (essay needles start sentences).
  bool boundary_before(int64_t i);

 private:
  void grow();
  HaystackKind kind_;
  TaskRng rng_;
  const std::vector<std::string>* words_;
  std::function<std::string(TaskRng&)> distractor_;
  std::vector<const std::string*> prose_vocab_;  // essay: the word list in a fixed shuffled order
  std::vector<std::string> units_;
  std::vector<bool> boundary_;
  int sentences_in_paragraph_ = 0;
};

// k of RULER's noise sentences, each with a leading space: fine padding for
// prompts whose haystack units are too coarse to hit a token target.
std::string noise_padding(int64_t k);

struct Needle {
  double depth;      // requested relative position in [0, 1]
  std::string text;  // inserted as its own sentence
};

// The first n units with each needle at the allowed boundary nearest depth * n;
// *used_depths (optional) receives each needle's actual relative position.
std::string haystack_with_needles(Haystack& haystack, int64_t n, const std::vector<Needle>& needles,
                                  std::vector<double>* used_depths = nullptr);

}  // namespace sb
