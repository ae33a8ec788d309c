#pragma once
// Which context tokens each rank owns, per method. Pure arithmetic, shared by
// the methods, the memory planner and the tests.
#include <cstdint>
#include <string>
#include <vector>

#include "attention/setting_names.h"

namespace sb {

struct TokenRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};

// Ring: how the context is sharded over ranks.
//   zigzag:     2N chunks (sizes differ by at most one); rank r owns chunks r and
//               2N-1-r, so under the causal mask every rank does the same work.
//   contiguous: N chunks; rank r owns chunk r, tokens [rC/N, (r+1)C/N). The
//               baseline of the Star Attention paper (ring_flash_attn_func): at
//               step s rank r has keys to attend to only if s <= r, so the last
//               rank does N block-attentions and the first one.
// Chunk indices are in position order in both layouts: a key chunk before a
// query chunk is fully visible, the same chunk is causal, a later one hidden.
enum class RingLayoutKind { Zigzag, Contiguous };
template <>
struct SettingNames<RingLayoutKind> {
  static constexpr std::array<std::pair<RingLayoutKind, std::string_view>, 2> table{
      {{RingLayoutKind::Zigzag, "zigzag"}, {RingLayoutKind::Contiguous, "contiguous"}}};
  static constexpr std::string_view unknown = "ring: --ring-layout '{name}' is not one of {valid}";
};

struct RingLayout {
  RingLayoutKind kind = RingLayoutKind::Zigzag;
  int64_t context_len = 0;
  int world_size = 1;
  int chunks_per_rank() const { return kind == RingLayoutKind::Zigzag ? 2 : 1; }
  int64_t num_chunks() const { return int64_t(chunks_per_rank()) * world_size; }
  TokenRange chunk(int64_t index) const;  // index in [0, num_chunks())
  // The rank's chunks in the order its tokens are laid out (ascending).
  std::vector<int64_t> chunks_of(int rank) const;
  int64_t tokens_of(int rank) const;
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

// A star block size as a user gives it: "0" (context / ranks), "C/k" (context /
// k, rounded up; "c/k" too) or a number of tokens. Sweeps keep the rule so that
// results can be grouped by it (the paper states block = context / 4).
struct BlockRule {
  int64_t tokens = 0;   // fixed size; 0 with divisor 0: context / ranks
  int64_t divisor = 0;  // C/k
  int64_t resolve(int64_t context_len, int world_size) const;
  std::string label() const;  // "fixed", "C/ranks", "C/4"
};
BlockRule parse_block_rule(const std::string& text);

// Throws sb::Error for a negative block size or an anchor size below -1 (the only
// negative size with a meaning: anchor = block).
void check_star_sizes(int64_t block_size, int64_t anchor_size);

// Resolves the defaults (block 0 -> ceil(context / ranks); anchor -1 -> block)
// and checks the settings; the message says which value is wrong and why.
StarLayout make_star_layout(int64_t context_len, int64_t block_size, int64_t anchor_size, int world_size);
// The message names a context too short to give every chunk a token.
RingLayout make_ring_layout(int64_t context_len, int world_size, RingLayoutKind kind = RingLayoutKind::Zigzag);

}  // namespace sb
