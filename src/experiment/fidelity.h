#pragma once
// How far a method's outputs are from global attention's on the same input.
// With random weights these measure numerical distance only, not task quality.
#include <cstdint>
#include <vector>

namespace sb {

struct Fidelity {
  double kl_divergence = 0;          // mean over query positions of KL(P_global || P_method), nats
  double top1_agreement = 0;         // fraction of query positions with the same argmax
  double generated_agreement = 0;    // fraction of generated positions with the same token
  double hidden_relative_error = 0;  // ||h - h_global|| / ||h_global||, final normed hidden of the query
};

// logits: [rows, vocab] row-major; hidden: [rows, hidden]. Computed in double.
Fidelity compare_outputs(const std::vector<float>& reference_logits, const std::vector<float>& logits,
                         int64_t vocab_size, const std::vector<float>& reference_hidden,
                         const std::vector<float>& hidden, const std::vector<int64_t>& reference_generated,
                         const std::vector<int64_t>& generated);

// KL(P || Q) of the softmax distributions of two logit rows, in nats.
double kl_divergence_of_logits(const float* reference_row, const float* row, int64_t vocab_size);

}  // namespace sb
