#pragma once
// Which context tokens each rank owns, per method. Pure arithmetic, shared by
// the methods, the memory planner and the tests.
#include <cstdint>
#include <string>
#include <vector>

namespace sb {

struct TokenRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

// Ring: the context cut into 2N chunks (sizes differ by at most one); rank r
// owns chunks r and 2N-1-r, so under the causal mask every rank does the same
// work (the zigzag layout).
struct ZigzagLayout {
  int64_t context_len = 0;
  int world_size = 1;
  TokenRange chunk(int64_t index) const;  // index in [0, 2N)
  int64_t first_chunk(int rank) const { return rank; }
  int64_t second_chunk(int rank) const { return 2 * int64_t(world_size) - 1 - rank; }
  int64_t tokens_of(int rank) const { return chunk(first_chunk(rank)).size() + chunk(second_chunk(rank)).size(); }
  int64_t max_tokens_per_rank() const;
};

// Star: blocks of block_size tokens (the last may be shorter), given to ranks
// in contiguous groups; every block but the first is prefixed by the anchor
// (the first anchor_size context tokens).
struct StarLayout {
  int64_t context_len = 0;
  int64_t block_size = 0;
  int64_t anchor_size = 0;
  int world_size = 1;
  int64_t num_blocks() const { return (context_len + block_size - 1) / block_size; }
  TokenRange block(int64_t index) const;
  // Blocks owned by a rank: [first, last).
  TokenRange blocks_of(int rank) const;
  int64_t tokens_of(int rank) const;
  int64_t max_tokens_per_rank() const;
  // Longest sequence a rank runs in phase 1: anchor + one block.
  int64_t max_sequence_len() const;
};

// Throws sb::Error for a negative block size or an anchor size below -1 (the only
// negative size with a meaning: anchor = block).
void check_star_sizes(int64_t block_size, int64_t anchor_size);

// Resolves the defaults (block 0 -> ceil(context / ranks); anchor -1 -> block)
// and checks the settings; the message says which value is wrong and why.
StarLayout make_star_layout(int64_t context_len, int64_t block_size, int64_t anchor_size, int world_size);
ZigzagLayout make_zigzag_layout(int64_t context_len, int world_size);

}  // namespace sb
