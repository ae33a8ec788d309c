// The forward pass against float64 HF transformers logits for a tiny random
// Llama-3 checkpoint (bf16, sharded, llama3 rope scaling, GQA).
#include <gtest/gtest.h>

#include "attention/method_factory.h"
#include "experiment/forward_pass.h"
#include "model/checkpoint.h"
#include "model/weights.h"
#include "tests/reference/reference_data.h"

namespace sb {
namespace {

using testing::load_reference;
using testing::max_abs_difference;


TEST(ReferenceForward, EveryPositionMatchesFloat64Transformers) {
  testing::ReferenceModel loaded;
  testing::ReferenceCase reference = load_reference("global_reference.safetensors");
  ASSERT_EQ(reference.tokens.size(), 96u);
  auto method = make_method({Method::Global}, *loaded.model, *loaded.local, 0, 96);
  ForwardOutputs outputs = run_forward_pass(*method, *loaded.model, {}, reference.tokens, 0);
  const double difference = max_abs_difference(outputs.logits, reference.logits);
  EXPECT_LT(difference, 2e-3) << "max |logit difference| vs float64 transformers";
  std::printf("global, C=0: max |logit - float64 reference| = %.3g\n", difference);
}

TEST(ReferenceForward, QueryAfterContextAndGreedyTokensMatch) {
  testing::ReferenceModel loaded;
  testing::ReferenceCase reference = load_reference("global_reference.safetensors", "query_logits");
  const int64_t context_len = reference.context_len;
  ASSERT_EQ(context_len, 80);
  std::vector<int32_t> context(reference.tokens.begin(), reference.tokens.begin() + context_len);
  std::vector<int32_t> query(reference.tokens.begin() + context_len, reference.tokens.end());
  auto method = make_method({Method::Global}, *loaded.model, *loaded.local, context_len,
                            int64_t(query.size() + reference.generated.size()));
  ForwardOutputs outputs =
      run_forward_pass(*method, *loaded.model, context, query, int64_t(reference.generated.size()));
  EXPECT_LT(max_abs_difference(outputs.logits, reference.logits), 2e-3);
  EXPECT_EQ(outputs.generated, reference.generated);
}

}  // namespace
}  // namespace sb
