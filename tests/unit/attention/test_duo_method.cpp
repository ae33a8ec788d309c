// duo on one rank (cpu backend, tiny synthetic model) against direct
// computations: no streaming head is global attention; streaming heads are
// sink + window attention over the whole sequence at once (no caches, no
// phases), per head as the pattern says; their cache stays sink + recent.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "attention/duo_method.h"
#include "attention/method_factory.h"
#include "comm/comm.h"
#include "experiment/forward_pass.h"
#include "model/config.h"
#include "model/weights.h"
#include "tests/support/tiny_model.h"
#include "util/error.h"

namespace sb {
namespace {

testing::TinyModel& tiny() {
  static testing::TinyModel instance(7, /*with_world=*/false);
  return instance;
}

std::vector<int32_t> random_tokens(uint64_t seed, int64_t count) {
  return testing::random_tokens(seed, count, tiny().config.vocab_size);
}

std::shared_ptr<const DuoPattern> pattern(std::vector<std::vector<int>> retrieval, int64_t sink, int64_t recent) {
  return testing::duo_test_pattern(retrieval, sink, recent);
}

// Every head of one forward over the whole sequence, causal or sink + window
// as the pattern says: the rule applied directly, without duo's caches.
class DirectDuoAttention : public LayerAttention {
 public:
  DirectDuoAttention(Backend& backend, const DuoPattern& pattern) : backend_(backend), pattern_(pattern) {}
  void attend(int layer, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out) override {
    const float scale = float(1.0 / std::sqrt(double(q.dim(2))));
    Tensor lse = backend_.empty(DType::F32, {q.dim(0), q.dim(1)});
    Tensor streaming = backend_.empty(out.dtype(), out.shape());
    backend_.attention(q, k, v, AttentionMask::causal(0), scale, out, lse);
    backend_.attention(q, k, v, AttentionMask::streaming(0, pattern_.sink, pattern_.recent), scale, streaming, lse);
    const int64_t group = q.dim(1) / k.dim(1);
    for (int64_t head = 0; head < q.dim(1); ++head) {
      if (!pattern_.is_retrieval(layer, head / group)) {
        backend_.copy_heads(out, 0, head, streaming, 0, head, q.dim(0), 1);
      }
    }
  }

 private:
  Backend& backend_;
  const DuoPattern& pattern_;
};

// Logits of every position of `tokens` under the direct rule.
std::vector<float> direct_logits(const DuoPattern& pattern, const std::vector<int32_t>& tokens) {
  testing::TinyModel& t = tiny();
  std::vector<int32_t> positions(tokens.size());
  std::iota(positions.begin(), positions.end(), 0);
  DirectDuoAttention attention(*t.backend, pattern);
  return t.backend->to_host_f32(t.model->logits(t.model->final_norm(t.model->forward(tokens, positions, attention))));
}

ForwardOutputs run(const MethodSettings& settings, const std::vector<int32_t>& context,
                   const std::vector<int32_t>& query, int64_t generate) {
  testing::TinyModel& t = tiny();
  auto method = make_method(settings, *t.model, *t.local, int64_t(context.size()), int64_t(query.size()) + generate);
  return run_forward_pass(*method, *t.model, context, query, generate);
}

double max_relative(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])) / (1.0 + std::abs(double(want[i]))));
  }
  return worst;
}

// duo's query logits and greedy tokens against the direct rule on
// [context; query; generated]: the logits of the query rows, and each
// generated token the argmax of the direct logits before it.
void expect_direct(const DuoPattern& pattern, const std::vector<int32_t>& context, const std::vector<int32_t>& query,
                   const ForwardOutputs& duo) {
  std::vector<int32_t> all = context;
  all.insert(all.end(), query.begin(), query.end());
  for (int64_t token : duo.generated) all.push_back(int32_t(token));
  const std::vector<float> direct = direct_logits(pattern, all);
  const int64_t vocab = tiny().config.vocab_size, first = int64_t(context.size());
  std::vector<float> direct_query(direct.begin() + first * vocab,
                                  direct.begin() + (first + int64_t(query.size())) * vocab);
  EXPECT_LT(max_relative(duo.logits, direct_query), 2e-5);
  for (size_t step = 0; step < duo.generated.size(); ++step) {
    const int64_t row = first + int64_t(query.size()) - 1 + int64_t(step);
    const float* logits = direct.data() + row * vocab;
    EXPECT_EQ(duo.generated[step], int64_t(std::max_element(logits, logits + vocab) - logits)) << "step " << step;
  }
}

TEST(DuoMethod, NoStreamingHeadIsGlobalAttention) {
  auto context = random_tokens(1, 53), query = random_tokens(2, 7);
  ForwardOutputs global = run({Method::Global}, context, query, 5);
  MethodSettings duo{Method::Duo};
  duo.duo = pattern({{1, 1}, {1, 1}}, 4, 8);
  ForwardOutputs none = run(duo, context, query, 5);
  EXPECT_EQ(none.logits, global.logits);  // the same attention calls on the same rows
  EXPECT_EQ(none.generated, global.generated);
}

TEST(DuoMethod, EveryHeadStreamingIsSinkAndWindowAttention) {
  auto context = random_tokens(3, 61), query = random_tokens(4, 9);
  for (auto [sink, recent] : {std::pair<int64_t, int64_t>{3, 5}, {0, 7}, {4, 1}, {2, 100}}) {
    SCOPED_TRACE(::testing::Message() << "sink " << sink << " recent " << recent);
    MethodSettings settings{Method::Duo};
    settings.duo = pattern({{0, 0}, {0, 0}}, sink, recent);
    ForwardOutputs duo = run(settings, context, query, 12);
    expect_direct(*settings.duo, context, query, duo);
    if (sink + recent < 61) {  // a guard against duo silently computing global attention
      EXPECT_GT(max_relative(duo.logits, run({Method::Global}, context, query, 0).logits), 1e-4);
    }
  }
}

TEST(DuoMethod, MixedPatternFollowsTheRulePerHead) {
  auto context = random_tokens(5, 70), query = random_tokens(6, 6);
  for (auto kinds : {std::vector<std::vector<int>>{{1, 0}, {0, 1}}, {{0, 1}, {1, 1}}, {{0, 0}, {1, 0}}}) {
    MethodSettings settings{Method::Duo};
    settings.duo = pattern(kinds, 2, 6);
    expect_direct(*settings.duo, context, query, run(settings, context, query, 8));
    // The whole sequence as the query (no context): the same rule.
    std::vector<int32_t> everything = context;
    everything.insert(everything.end(), query.begin(), query.end());
    ForwardOutputs at_once = run(settings, {}, everything, 0);
    expect_direct(*settings.duo, {}, everything, at_once);
  }
}

TEST(DuoMethod, StreamingCacheNeverGrowsPastSinkPlusRecent) {
  testing::TinyModel& t = tiny();
  MethodSettings settings{Method::Duo};
  const int64_t sink = 4, recent = 8, steps = 150;
  settings.duo = pattern({{1, 0}, {0, 0}}, sink, recent);
  auto method = make_method(settings, *t.model, *t.local, 40, 3 + steps);
  auto* duo = dynamic_cast<DuoMethod*>(method.get());
  ASSERT_NE(duo, nullptr);
  method->encode_context(random_tokens(7, 40));
  const size_t bytes = duo->kv_cache_bytes();
  Tensor hidden = method->encode_query(random_tokens(8, 3));
  for (int64_t step = 0; step < steps; ++step) {
    for (int layer = 0; layer < 2; ++layer) ASSERT_LE(duo->streaming_kv().rows(layer), sink + recent) << step;
    const Tensor last = t.model->final_norm(hidden.rows(hidden.dim(0) - 1, hidden.dim(0)));
    const int64_t next = t.backend->argmax_rows(t.model->logits(last)).at(0);
    hidden = method->encode_query({int32_t(next)});
  }
  EXPECT_EQ(duo->streaming_kv().rows(1), sink + recent);
  EXPECT_EQ(duo->kv_cache_bytes(), bytes);  // nothing allocated on the way
  // Retrieval heads keep everything: 1 of 4 KV heads x (40 + 3 + 150) rows; streaming ones sink + recent.
  const size_t row = size_t(t.config.head_dim) * 2 * sizeof(float);
  EXPECT_EQ(bytes, row * (1 * (40 + 3 + steps) + 3 * (sink + recent)));
}

TEST(DuoMethod, RefusesWhatItCannotRun) {
  testing::TinyModel& t = tiny();
  EXPECT_THROW(make_method({Method::Duo}, *t.model, *t.local, 10, 4), Error);  // no pattern
  MethodSettings wrong{Method::Duo};
  wrong.duo = pattern({{1, 0, 1}, {0, 0, 1}}, 2, 2);  // 3 KV heads, the model has 2
  EXPECT_THROW(make_method(wrong, *t.model, *t.local, 10, 4), Error);
}

}  // namespace
}  // namespace sb
