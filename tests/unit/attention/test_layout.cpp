#include <gtest/gtest.h>

#include "attention/layout.h"
#include "util/error.h"

namespace sb {
namespace {

TEST(ZigzagLayout, ChunksTileTheContextAndBalanceCausalWork) {
  for (int world : {1, 2, 3, 4, 7}) {
    for (int64_t context : {int64_t(2 * world), int64_t(37), int64_t(101), int64_t(4096)}) {
      ZigzagLayout layout = make_zigzag_layout(context, world);
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
        for (int64_t c : {layout.first_chunk(rank), layout.second_chunk(rank)}) {
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
