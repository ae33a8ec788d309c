#include "experiment/forward_pass.h"

namespace sb {

ForwardOutputs run_forward_pass(AttentionMethod& method, Transformer& model, const std::vector<int32_t>& context,
                                const std::vector<int32_t>& query, int64_t generate) {
  Backend& backend = model.backend();
  ForwardOutputs outputs;
  method.set_query(query);
  method.encode_context(context);
  Tensor normed = model.final_norm(method.encode_query(query));
  Tensor logits = model.logits(normed);
  outputs.logits = backend.to_host_f32(logits);
  outputs.hidden = backend.to_host_f32(normed);
  Tensor last = logits.rows(logits.dim(0) - 1, logits.dim(0));
  for (int64_t step = 0; step < generate; ++step) {
    const int64_t next = backend.argmax_rows(last).at(0);
    outputs.generated.push_back(next);
    if (step + 1 == generate) break;
    last = model.logits(model.final_norm(method.encode_query({int32_t(next)})));
  }
  return outputs;
}

}  // namespace sb
