// star + duo under mpiexec with 1-4 ranks: with no streaming head it is star;
// its result does not depend on how many ranks hold the blocks; every rank
// ends with the same output; only the retrieval heads' partials travel in
// phase 2; settings it cannot honour end every rank with one message.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/duo_method.h"
#include "attention/method_factory.h"
#include "comm/comm.h"
#include "experiment/forward_pass.h"
#include "model/weights.h"
#include "tests/mpi/collective_error.h"
#include "tests/support/tiny_model.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

testing::TinyModel& setup() {
  static testing::TinyModel instance(11, /*with_world=*/true);
  return instance;
}

std::vector<int32_t> tokens(uint64_t seed, int64_t count) {
  return testing::random_tokens(seed, count, setup().config.vocab_size);
}

// Retrieval (1) or streaming (0) for the tiny model's 2 layers x 2 KV heads, layer by layer.
std::shared_ptr<const DuoPattern> pattern(std::vector<int> kinds, int64_t sink, int64_t recent) {
  return testing::duo_test_pattern({{kinds[0], kinds[1]}, {kinds[2], kinds[3]}}, sink, recent);
}

MethodSettings star_duo(int64_t block, int64_t anchor, std::shared_ptr<const DuoPattern> duo) {
  MethodSettings settings{Method::Star, {block}, anchor};
  settings.duo = std::move(duo);
  return settings;
}

struct Outcome {
  ForwardOutputs outputs;
  double bytes = 0;  // sent by every rank together
};

Outcome run(const MethodSettings& settings, Comm& comm, const std::vector<int32_t>& context,
        const std::vector<int32_t>& query, int64_t generate) {
  testing::TinyModel& s = setup();
  auto method = make_method(settings, *s.model, comm, int64_t(context.size()), int64_t(query.size()) + generate);
  comm.reset_bytes_sent();
  Outcome result;
  result.outputs = run_forward_pass(*method, *s.model, context, query, generate);
  for (double bytes : Control::gather_all(double(comm.bytes_sent()))) result.bytes += bytes;
  return result;
}

using testing::relative_error;

TEST(StarDuo, NoStreamingHeadIsStar) {
  const int world = Control::size();
  auto context = tokens(1, 16 * world + 16), query = tokens(2, 5);
  Outcome star = run({Method::Star, {16}, 8}, *setup().world, context, query, 3);
  Outcome duo = run(star_duo(16, 8, pattern({1, 1, 1, 1}, 4, 8)), *setup().world, context, query, 3);
  EXPECT_LT(relative_error(star.outputs.logits, duo.outputs.logits), 1e-6);
  EXPECT_EQ(star.outputs.generated, duo.outputs.generated);
}

// The blocks are the same whatever the rank count (explicit block and anchor
// sizes), so phase 1's KV is too; phase 2 only moves where the retrieval
// heads' partials are merged and where the streaming heads run.
TEST(StarDuo, ResultDoesNotDependOnTheRankCount) {
  const int world = Control::size();
  auto context = tokens(3, 12 * 2 * world), query = tokens(4, 6);
  for (auto kinds : {std::vector<int>{1, 0, 0, 1}, {0, 0, 0, 0}, {0, 1, 1, 1}}) {
    auto settings = star_duo(12, 6, pattern(kinds, 3, 7));
    Outcome spread = run(settings, *setup().world, context, query, 6);  // anchor once per rank (auto with duo)
    Outcome alone = run(settings, *setup().local, context, query, 6);
    EXPECT_LT(relative_error(alone.outputs.logits, spread.outputs.logits), 2e-6);
    EXPECT_EQ(alone.outputs.generated, spread.outputs.generated);
    // The anchor recomputed per block: the same phase 1, through the other hook path.
    settings.anchor_mode = AnchorMode::Recompute;
    Outcome recomputed = run(settings, *setup().world, context, query, 6);
    EXPECT_LT(relative_error(spread.outputs.logits, recomputed.outputs.logits), 2e-6);
    EXPECT_EQ(spread.outputs.generated, recomputed.outputs.generated);
    // Every rank holds the same merged result.
    double checksum = 0;
    for (float value : spread.outputs.logits) checksum += value;
    EXPECT_DOUBLE_EQ(Control::max(checksum), -Control::max(-checksum));
    // Streaming heads change the result: a guard against star + duo silently being star.
    if (kinds[1] == 0) {
      Outcome star = run({Method::Star, {12}, 6}, *setup().world, context, query, 0);
      EXPECT_GT(relative_error(star.outputs.logits, spread.outputs.logits), 1e-4);
    }
  }
}

TEST(StarDuo, OnlyRetrievalHeadsPartialsTravelInPhaseTwo) {
  const int world = Control::size();
  if (world == 1) GTEST_SKIP() << "one rank sends nothing";
  auto context = tokens(5, 16 * world), query = tokens(6, 4);
  // The anchor computed on each rank (not sent): phase 1 sends nothing, all bytes are phase 2's.
  MethodSettings plain_star{Method::Star, {16}, 16};
  plain_star.anchor_mode = AnchorMode::Once;
  Outcome star = run(plain_star, *setup().world, context, query, 0);
  Outcome duo = run(star_duo(16, 16, pattern({1, 0, 0, 0}, 4, 8)), *setup().world, context, query, 0);
  // Per layer, world - 1 ranks send their (out, lse) of the retrieval heads'
  // query rows (fp32 on cpu), and the query rank broadcasts every head's out.
  const ModelConfig& c = setup().config;
  const double rows = double(query.size()), group = double(c.num_heads / c.num_kv_heads);
  auto phase2 = [&](std::vector<double> retrieval_kv_heads_per_layer) {
    double bytes = 0;
    for (double heads : retrieval_kv_heads_per_layer) {
      bytes += heads * group * rows * double(c.head_dim + 1) * 4 + rows * double(c.num_heads * c.head_dim) * 4;
    }
    return double(world - 1) * bytes;
  };
  EXPECT_EQ(star.bytes, phase2({2, 2}));
  EXPECT_EQ(duo.bytes, phase2({1, 0}));
}

void expect_refused(const MethodSettings& settings, int64_t context_len, const std::string& fragment) {
  testing::TinyModel& s = setup();
  testing::expect_collective_error([&] { make_method(settings, *s.model, *s.world, context_len, 4); }, fragment);
}

TEST(StarDuo, RefusesWhatItCannotHonour) {
  const int world = Control::size();
  const int64_t context = 16 * world * 2;
  expect_refused(star_duo(16, 4, pattern({1, 0, 0, 1}, 8, 8)), context, "must lie inside the anchor");
  if (world > 1) {  // the query rank holds its 32 positions; the window reaches further back
    expect_refused(star_duo(16, 16, pattern({1, 0, 0, 1}, 4, 40)), context, "must lie on the query rank");
  }
  MethodSettings ablation = star_duo(16, 16, pattern({1, 0, 0, 1}, 4, 8));
  ablation.anchor_source = AnchorSource::Previous;
  expect_refused(ablation, context, "first tokens at their own positions");
  MethodSettings sent = star_duo(16, 16, pattern({1, 0, 0, 1}, 4, 8));
  sent.anchor_mode = AnchorMode::Sent;
  expect_refused(sent, context, "--anchor-mode sent is not supported");
}

}  // namespace
}  // namespace sb
