#pragma once
// One generated long-context sample, split the way Star Attention needs it: the
// context (sharded over ranks in phase 1) and the query (question + answer
// prefix, sent to every rank in phase 2).
#include <cstdint>
#include <string>
#include <vector>

namespace sb {

struct TaskSample {
  std::string task;
  int64_t index = 0;
  std::string context;
  std::string query;                 // question + answer prefix
  std::vector<std::string> answers;  // references for the RULER metric
  double depth = -1;                 // relative position of the (first queried) needle in [0, 1]; -1 if n/a
  int64_t context_tokens = 0;        // tokens of context alone
  int64_t query_tokens = 0;          // tokens of query alone; context + query is sized to the target
  std::string metric;                // "all" (string_match_all) or "part" (string_match_part)
};

struct TaskOptions {
  // Word list for the generated prose haystack, needle keys and cwe words
  // (Debian package wamerican). Lower-case ASCII words are used.
  std::string words_path = "/usr/share/dict/words";
  std::string squad_path;    // qa_1: SQuAD (v1.1/v2.0) dev JSON, user-provided
  std::string hotpot_path;   // qa_2: HotpotQA dev (distractor) JSON, user-provided
  // Needle depth in [0, 1] for every sample; < 0 spreads samples evenly over [0, 1].
  double depth = -1;
  // Allowed relative deviation of context + query tokens from the target.
  double tolerance = 0.01;
};

}  // namespace sb
