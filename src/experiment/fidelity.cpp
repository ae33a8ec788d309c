#include "experiment/fidelity.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace sb {
namespace {

// log-softmax of one row, in double.
std::vector<double> log_softmax(const float* row, int64_t n) {
  double max_value = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max_value = std::max(max_value, double(row[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(row[i]) - max_value);
  const double log_denominator = max_value + std::log(sum);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = double(row[i]) - log_denominator;
  return out;
}

int64_t argmax(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

}  // namespace

double kl_divergence_of_logits(const float* reference_row, const float* row, int64_t vocab_size) {
  std::vector<double> log_p = log_softmax(reference_row, vocab_size), log_q = log_softmax(row, vocab_size);
  double kl = 0;
  for (int64_t i = 0; i < vocab_size; ++i) kl += std::exp(log_p[size_t(i)]) * (log_p[size_t(i)] - log_q[size_t(i)]);
  return std::max(0.0, kl);  // rounding can leave a tiny negative
}

Fidelity compare_outputs(const std::vector<float>& reference_logits, const std::vector<float>& logits,
                         int64_t vocab_size, const std::vector<float>& reference_hidden,
                         const std::vector<float>& hidden, const std::vector<int64_t>& reference_generated,
                         const std::vector<int64_t>& generated) {
  SB_REQUIRE(vocab_size > 0 && reference_logits.size() == logits.size() && logits.size() % size_t(vocab_size) == 0,
             "fidelity: logits of different shapes ({} vs {} values)", reference_logits.size(), logits.size());
  SB_REQUIRE(reference_hidden.size() == hidden.size(), "fidelity: hidden states of different shapes");
  Fidelity result;
  const int64_t rows = int64_t(logits.size()) / vocab_size;
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = reference_logits.data() + r * vocab_size;
    const float* q = logits.data() + r * vocab_size;
    result.kl_divergence += kl_divergence_of_logits(p, q, vocab_size);
    result.top1_agreement += argmax(p, vocab_size) == argmax(q, vocab_size) ? 1.0 : 0.0;
  }
  if (rows > 0) {
    result.kl_divergence /= double(rows);
    result.top1_agreement /= double(rows);
  }
  const size_t compared = std::min(reference_generated.size(), generated.size());
  size_t same = 0;
  for (size_t i = 0; i < compared; ++i) same += reference_generated[i] == generated[i] ? 1 : 0;
  result.generated_agreement = reference_generated.empty() ? 1.0 : double(same) / double(reference_generated.size());
  double difference = 0, norm = 0;
  for (size_t i = 0; i < hidden.size(); ++i) {
    const double delta = double(hidden[i]) - double(reference_hidden[i]);
    difference += delta * delta;
    norm += double(reference_hidden[i]) * double(reference_hidden[i]);
  }
  result.hidden_relative_error = norm > 0 ? std::sqrt(difference / norm) : std::sqrt(difference);
  return result;
}

}  // namespace sb
