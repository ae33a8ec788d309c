// The methods' invariants under mpiexec with 1-4 ranks: ring equals global to
// fp32 rounding; star with one block equals global; bad settings end every
// rank with one message, never a hang.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention/method_factory.h"
#include "attention/star_method.h"
#include "backend/backend.h"
#include "comm/comm.h"
#include "experiment/forward_pass.h"
#include "model/weights.h"
#include "tests/mpi/collective_error.h"
#include "tests/support/tiny_model.h"
#include "util/control.h"
#include "util/error.h"

namespace sb {
namespace {

using TinySetup = testing::TinyModel;
using testing::relative_error;
using testing::random_tokens;

TinySetup& setup() {
  static TinySetup instance(7, /*with_world=*/true);
  return instance;
}

ForwardOutputs run(const MethodSettings& settings, Comm& comm, const std::vector<int32_t>& context,
                   const std::vector<int32_t>& query, int64_t generate) {
  TinySetup& s = setup();
  auto method = make_method(settings, *s.model, comm, int64_t(context.size()), int64_t(query.size()) + generate);
  return run_forward_pass(*method, *s.model, context, query, generate);
}

TEST(Methods, RingEqualsGlobalUnevenLengths) {
  TinySetup& s = setup();
  const int world = Control::size();
  for (int64_t context_len : {int64_t(2 * world), int64_t(37), int64_t(64), int64_t(101)}) {
    auto context = random_tokens(11 + context_len, context_len, s.config.vocab_size);
    auto query = random_tokens(99 + context_len, 5, s.config.vocab_size);
    // Every rank computes the global reference on its own (local communicator).
    ForwardOutputs global = run({Method::Global}, *s.local, context, query, 4);
    ForwardOutputs ring = run({Method::Ring}, *s.world, context, query, 4);
    EXPECT_LT(relative_error(global.logits, ring.logits), 2e-5) << "context " << context_len;
    EXPECT_LT(relative_error(global.hidden, ring.hidden), 2e-5) << "context " << context_len;
    EXPECT_EQ(global.generated, ring.generated) << "context " << context_len;
  }
}

TEST(Methods, StarWithOneBlockEqualsGlobal) {
  TinySetup& s = setup();
  auto context = random_tokens(5, 53, s.config.vocab_size);
  auto query = random_tokens(6, 7, s.config.vocab_size);
  ForwardOutputs global = run({Method::Global}, *s.local, context, query, 3);
  for (int64_t anchor : {int64_t(-1), int64_t(0), int64_t(10)}) {
    ForwardOutputs star = run({Method::Star, {53}, anchor}, *s.local, context, query, 3);
    EXPECT_LT(relative_error(global.logits, star.logits), 1e-6) << "anchor " << anchor;
    EXPECT_EQ(global.generated, star.generated);
  }
}

TEST(Methods, StarAcrossRanksIsIdenticalOnEveryRank) {
  TinySetup& s = setup();
  const int world = Control::size();
  auto context = random_tokens(21, 24 * world + 5, s.config.vocab_size);
  auto query = random_tokens(22, 4, s.config.vocab_size);
  ForwardOutputs star = run({Method::Star, {0}, -1}, *s.world, context, query, 2);
  // Every rank must hold the same merged result.
  double checksum = 0;
  for (float value : star.logits) checksum += value;
  EXPECT_DOUBLE_EQ(Control::max(checksum), -Control::max(-checksum));
}

TEST(Methods, StarDiffersFromGlobalWhenBlocksSplitTheContext) {
  // A guard against a star that silently computes global attention.
  TinySetup& s = setup();
  auto context = random_tokens(31, 64, s.config.vocab_size);
  auto query = random_tokens(32, 4, s.config.vocab_size);
  ForwardOutputs global = run({Method::Global}, *s.local, context, query, 0);
  ForwardOutputs star = run({Method::Star, {16}, 0}, *s.local, context, query, 0);
  EXPECT_GT(relative_error(global.logits, star.logits), 1e-4);
}

void expect_collective_error(const MethodSettings& settings, int64_t context_len, const std::string& fragment) {
  TinySetup& s = setup();
  testing::expect_collective_error([&] { make_method(settings, *s.model, *s.world, context_len, 4); }, fragment);
}

TEST(Methods, BadSettingsEndEveryRankWithOneMessage) {
  const int world = Control::size();
  expect_collective_error({Method::Star, {200}, -1}, 100, "larger than the context");
  expect_collective_error({Method::Star, {10}, 20}, 100, "larger than a block");
  expect_collective_error({Method::Star, {-3}, -1}, 100, "negative");
  // A method's name is refused where it is parsed (the command line), with the valid names.
  try {
    parse_setting<Method>("bogus");
    ADD_FAILURE() << "'bogus' parsed as a method";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unknown attention method 'bogus' (valid: global, ring, star, duo, apb)"),
              std::string::npos)
        << error.what();
  }
  if (world > 1) {
    expect_collective_error({Method::Star, {100}, -1}, 100, "ranks but only 1 blocks");
    expect_collective_error({Method::Global}, 100, "one rank");
    expect_collective_error({Method::Ring}, 1, "non-empty chunks");
  }
  // An empty query is refused before any work.
  TinySetup& s = setup();
  auto method = make_method({Method::Global}, *s.model, *s.local, 8, 4);
  method->encode_context(random_tokens(1, 8, s.config.vocab_size));
  EXPECT_THROW(method->encode_query({}), Error);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

TEST(Methods, StarAnchorAblationsAreWiredThrough) {
  TinySetup& s = setup();
  auto context = random_tokens(41, 64, s.config.vocab_size);
  auto query = random_tokens(42, 4, s.config.vocab_size);
  auto star = [&](int64_t block, const char* source, const char* positions) {
    return run({Method::Star, {block}, block, parse_setting<AnchorSource>(source),
                parse_setting<AnchorPositions>(positions)},
               *s.local, context, query, 0)
        .logits;
  };
  // Two blocks, anchor = block: the previous block is the first block, and its
  // adjacent positions are its own, so every variant is global attention.
  ForwardOutputs global = run({Method::Global}, *s.local, context, query, 0);
  for (const char* source : {"first", "previous"}) {
    for (const char* positions : {"original", "adjacent"}) {
      EXPECT_LT(relative_error(global.logits, star(32, source, positions)), 1e-6) << source << " " << positions;
    }
  }
  // Four blocks: each ablation changes what blocks 2 and 3 see.
  const std::vector<float> baseline = star(16, "first", "original");
  EXPECT_GT(relative_error(baseline, star(16, "previous", "original")), 1e-4);
  EXPECT_GT(relative_error(baseline, star(16, "first", "adjacent")), 1e-4);
  // "previous" anchors keep their true positions, so "adjacent" changes nothing there.
  EXPECT_LT(relative_error(star(16, "previous", "original"), star(16, "previous", "adjacent")), 1e-7);
  EXPECT_THROW(parse_setting<AnchorSource>("random"), Error);
}

}  // namespace
}  // namespace sb

namespace sb {
namespace {

MethodSettings ring_settings(const std::string& layout) {
  MethodSettings settings;
  settings.method = Method::Ring;
  settings.ring_layout = parse_setting<RingLayoutKind>(layout);
  return settings;
}

MethodSettings star_settings(int64_t block, int64_t anchor, const std::string& mode) {
  MethodSettings settings;
  settings.method = Method::Star;
  settings.block_rule = {block};
  settings.anchor_size = anchor;
  settings.anchor_mode = parse_setting<AnchorMode>(mode);
  return settings;
}

TEST(Methods, ContiguousRingEqualsGlobalUnevenLengths) {
  TinySetup& s = setup();
  const int world = Control::size();
  for (int64_t context_len : {int64_t(world), int64_t(37), int64_t(64), int64_t(101)}) {
    auto context = random_tokens(51 + context_len, context_len, s.config.vocab_size);
    auto query = random_tokens(52 + context_len, 5, s.config.vocab_size);
    ForwardOutputs global = run({Method::Global}, *s.local, context, query, 4);
    ForwardOutputs ring = run(ring_settings("contiguous"), *s.world, context, query, 4);
    EXPECT_LT(relative_error(global.logits, ring.logits), 2e-5) << "context " << context_len;
    EXPECT_LT(relative_error(global.hidden, ring.hidden), 2e-5) << "context " << context_len;
    EXPECT_EQ(global.generated, ring.generated) << "context " << context_len;
  }
}

// The anchor computed once per rank, or sent by rank 0, gives what recomputing
// it per block gives (the paper's formula), with several blocks per rank,
// uneven last blocks, anchor = block, anchor < block and anchor 0.
TEST(Methods, StarAnchorModesAgreeWithRecomputation) {
  TinySetup& s = setup();
  const int world = Control::size();
  for (int64_t blocks_per_rank : {1, 2, 3}) {
    for (int64_t anchor_fraction : {1, 2, 0}) {  // anchor = block, block / 2, 0
      const int64_t block = 8;
      const int64_t anchor = anchor_fraction == 0 ? 0 : block / anchor_fraction;
      const int64_t context_len = block * blocks_per_rank * world - (world > 1 ? 3 : 0);  // last block short
      auto context = random_tokens(61 + context_len, context_len, s.config.vocab_size);
      auto query = random_tokens(62 + context_len, 5, s.config.vocab_size);
      ForwardOutputs recomputed = run(star_settings(block, anchor, "recompute"), *s.world, context, query, 3);
      for (const char* mode : {"once", "sent"}) {
        ForwardOutputs shared = run(star_settings(block, anchor, mode), *s.world, context, query, 3);
        EXPECT_LT(relative_error(recomputed.logits, shared.logits), 2e-5)
            << mode << ", " << blocks_per_rank << " blocks per rank, anchor " << anchor;
        EXPECT_LT(relative_error(recomputed.hidden, shared.hidden), 2e-5) << mode;
        EXPECT_EQ(recomputed.generated, shared.generated) << mode;
      }
    }
  }
}

// Star's phase 1 moves nothing, except the anchor's K and V in sent mode: rank
// 0 broadcasts A rows of K and of V per layer to each other rank.
TEST(Methods, StarPhaseOneMovesOnlyTheSentAnchor) {
  TinySetup& s = setup();
  const int world = Control::size();
  const int64_t block = 8, anchor = 6, context_len = 2 * block * world;
  auto context = random_tokens(71, context_len, s.config.vocab_size);
  for (const char* mode : {"recompute", "once", "sent"}) {
    auto method = make_method(star_settings(block, anchor, mode), *s.model, *s.world, context_len, 4);
    s.world->reset_bytes_sent();
    method->encode_context(context);
    const double sent = Control::sum(double(s.world->bytes_sent()));
    const double anchor_bytes = double(s.config.num_layers * 2 * anchor * s.config.num_kv_heads *
                                       s.config.head_dim * dtype_size(s.backend->act_dtype()));
    const double expected = std::string(mode) == "sent" ? anchor_bytes * (world - 1) : 0.0;
    EXPECT_EQ(sent, expected) << mode;
  }
}

TEST(Methods, AnchorModesThatCannotServeAnAblationAreRefused) {
  TinySetup& s = setup();
  MethodSettings settings = star_settings(16, 16, "once");
  settings.anchor_source = AnchorSource::Previous;
  EXPECT_THROW(make_method(settings, *s.model, *s.local, 64, 4), Error);
  settings.anchor_mode = AnchorMode::Auto;  // resolves to recompute
  auto method = make_method(settings, *s.model, *s.local, 64, 4);
  EXPECT_EQ(dynamic_cast<StarMethod&>(*method).anchor_mode(), AnchorMode::Recompute);
  EXPECT_THROW(star_settings(16, 16, "bogus"), Error);  // names are refused where they are parsed
  EXPECT_THROW(ring_settings("spiral"), Error);
}

}  // namespace
}  // namespace sb
