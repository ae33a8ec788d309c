#pragma once
// Context, then query, then greedy tokens through one method: the sequence
// `starbench forward` runs and the integration tests compare across methods.
#include <cstdint>
#include <vector>

#include "attention/method.h"

namespace sb {

struct ForwardOutputs {
  std::vector<float> logits;       // [query_len, vocab]
  std::vector<float> hidden;       // [query_len, hidden], final-normed
  std::vector<int64_t> generated;  // greedy tokens after the query
};

ForwardOutputs run_forward_pass(AttentionMethod& method, Transformer& model, const std::vector<int32_t>& context,
                                const std::vector<int32_t>& query, int64_t generate);

}  // namespace sb
