#include <gtest/gtest.h>

#include "attention/layout.h"
#include "attention/method_settings.h"
#include "util/error.h"

namespace sb {
namespace {

TEST(RingLayout, ZigzagChunksTileTheContextAndBalanceCausalWork) {
  for (int world : {1, 2, 3, 4, 7}) {
    for (int64_t context : {int64_t(2 * world), int64_t(37), int64_t(101), int64_t(4096)}) {
      if (context < 2 * world) continue;
      RingLayout layout = make_ring_layout(context, world, RingLayoutKind::Zigzag);
      ASSERT_EQ(layout.num_chunks(), 2 * world);
      int64_t covered = 0;
      for (int64_t c = 0; c < 2 * world; ++c) {
        EXPECT_EQ(layout.chunk(c).begin, covered);
        EXPECT_GE(layout.chunk(c).size(), 1);
        covered = layout.chunk(c).end;
      }
      EXPECT_EQ(covered, context);
      // Causal work of a rank ~ sum over its query chunks of the keys before
      // them: chunks r and 2N-1-r make every rank's share nearly equal.
      int64_t least = INT64_MAX, most = 0, total_tokens = 0;
      for (int rank = 0; rank < world; ++rank) {
        int64_t work = 0;
        const std::vector<int64_t> chunks = layout.chunks_of(rank);
        ASSERT_EQ(chunks.size(), 2u);
        EXPECT_EQ(chunks[0], rank);
        EXPECT_EQ(chunks[1], 2 * world - 1 - rank);
        for (int64_t c : chunks) {
          TokenRange chunk = layout.chunk(c);
          work += chunk.size() * (chunk.begin + chunk.end) / 2;
        }
        least = std::min(least, work);
        most = std::max(most, work);
        total_tokens += layout.tokens_of(rank);
      }
      EXPECT_EQ(total_tokens, context);
      if (context >= 4096) EXPECT_LT(double(most - least) / double(most), 0.01) << world;
    }
  }
}

TEST(RingLayout, ContiguousShardsAreThePapersAndUnbalanced) {
  for (int world : {1, 2, 3, 4}) {
    for (int64_t context : {int64_t(world), int64_t(37), int64_t(4096)}) {
      RingLayout layout = make_ring_layout(context, world, RingLayoutKind::Contiguous);
      int64_t covered = 0;
      for (int rank = 0; rank < world; ++rank) {
        ASSERT_EQ(layout.chunks_of(rank), std::vector<int64_t>{rank});
        // Rank r holds tokens [rC/N, (r+1)C/N).
        EXPECT_EQ(layout.chunk(rank).begin, rank * context / world);
        EXPECT_EQ(layout.chunk(rank).end, (rank + 1) * context / world);
        EXPECT_EQ(layout.chunk(rank).begin, covered);
        covered = layout.chunk(rank).end;
      }
      EXPECT_EQ(covered, context);
    }
  }
  // The causal work of the last rank is (2N - 1) times the first's.
  RingLayout four = make_ring_layout(4096, 4, RingLayoutKind::Contiguous);
  auto work = [&](int rank) {
    TokenRange chunk = four.chunk(rank);
    return chunk.size() * (chunk.begin + chunk.end) / 2;
  };
  EXPECT_EQ(work(3), 7 * work(0));
}

TEST(RingLayout, BadLayoutsSayWhatIsWrong) {
  auto message = [](int64_t context, int world, const std::string& name) {
    try {
      make_ring_layout(context, world, parse_setting<RingLayoutKind>(name));
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_NE(message(100, 2, "spiral").find("not one of zigzag, contiguous"), std::string::npos);
  EXPECT_NE(message(5, 3, "zigzag").find("cannot be cut into 6 non-empty chunks"), std::string::npos);
  EXPECT_EQ(message(5, 3, "contiguous"), "");
}

TEST(BlockRule, ParsesTokensRanksAndFractions) {
  EXPECT_EQ(parse_block_rule("0").label(), "C/ranks");
  EXPECT_EQ(parse_block_rule("0").resolve(100, 3), 34);
  EXPECT_EQ(parse_block_rule("16384").label(), "fixed");
  EXPECT_EQ(parse_block_rule("16384").resolve(131072, 2), 16384);
  EXPECT_EQ(parse_block_rule("C/4").label(), "C/4");
  EXPECT_EQ(parse_block_rule("c/4").resolve(131072, 2), 32768);
  EXPECT_EQ(parse_block_rule("C/3").resolve(100, 2), 34);  // rounded up: 3 blocks cover the context
  for (const char* bad : {"-3", "C/0", "C/", "abc", "12k", "C/x", ""}) {
    EXPECT_THROW(parse_block_rule(bad), Error) << bad;
  }
}

TEST(StarLayout, DefaultsAndContiguousOwnership) {
  StarLayout layout = make_star_layout(100, 0, -1, 4);
  EXPECT_EQ(layout.block_size, 25);
  EXPECT_EQ(layout.anchor_size, 25);
  EXPECT_EQ(layout.num_blocks(), 4);
  // 72 tokens in blocks of 16: 5 blocks, the last 8 long; 2 ranks own 3 + 2.
  StarLayout uneven = make_star_layout(72, 16, 16, 2);
  EXPECT_EQ(uneven.num_blocks(), 5);
  EXPECT_EQ(uneven.block(4).size(), 8);
  EXPECT_EQ(uneven.blocks_of(0).begin, 0);
  EXPECT_EQ(uneven.blocks_of(0).end, 3);
  EXPECT_EQ(uneven.blocks_of(1).begin, 3);
  EXPECT_EQ(uneven.blocks_of(1).end, 5);
  EXPECT_EQ(uneven.tokens_of(0), 48);
  EXPECT_EQ(uneven.tokens_of(1), 24);
  EXPECT_EQ(uneven.max_sequence_len(), 32);
  // 8 blocks on 4 ranks: two each.
  StarLayout two_each = make_star_layout(80, 10, 10, 4);
  for (int rank = 0; rank < 4; ++rank) EXPECT_EQ(two_each.blocks_of(rank).size(), 2);
  EXPECT_EQ(make_star_layout(80, 20, 0, 4).anchor_size, 0);
}

TEST(StarLayout, BadSettingsSayWhatIsWrong) {
  auto message = [](int64_t context, int64_t block, int64_t anchor, int world) {
    try {
      make_star_layout(context, block, anchor, world);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_NE(message(100, 101, -1, 1).find("larger than the context"), std::string::npos);
  EXPECT_NE(message(100, 10, 11, 1).find("larger than a block"), std::string::npos);
  EXPECT_NE(message(100, 50, -1, 3).find("3 ranks but only 2 blocks"), std::string::npos);
  EXPECT_NE(message(0, 0, -1, 1).find("empty"), std::string::npos);
  EXPECT_NE(message(100, -1, -1, 1).find("negative"), std::string::npos);
}

}  // namespace
}  // namespace sb
