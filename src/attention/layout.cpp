#include "attention/layout.h"

#include <algorithm>

#include <fmt/format.h>

#include "util/error.h"

namespace sb {

TokenRange RingLayout::chunk(int64_t index) const {
  const int64_t chunks = num_chunks();
  return {index * context_len / chunks, (index + 1) * context_len / chunks};
}

std::vector<int64_t> RingLayout::chunks_of(int rank) const {
  if (kind == RingLayoutKind::Contiguous) return {rank};
  return {rank, 2 * int64_t(world_size) - 1 - rank};
}

int64_t RingLayout::tokens_of(int rank) const {
  int64_t tokens = 0;
  for (int64_t index : chunks_of(rank)) tokens += chunk(index).size();
  return tokens;
}

int64_t RingLayout::max_tokens_per_rank() const {
  int64_t most = 0;
  for (int rank = 0; rank < world_size; ++rank) most = std::max(most, tokens_of(rank));
  return most;
}

RingLayout make_ring_layout(int64_t context_len, int world_size, RingLayoutKind kind) {
  SB_REQUIRE(context_len > 0, "ring: the context is empty");
  SB_REQUIRE(world_size >= 1, "ring: world size {} is invalid", world_size);
  RingLayout result{kind, context_len, world_size};
  SB_REQUIRE(context_len >= result.num_chunks(),
             "ring ({}): a {}-token context cannot be cut into {} non-empty chunks for {} rank(s)", setting_name(kind),
             context_len, result.num_chunks(), world_size);
  return result;
}

TokenRange StarLayout::block(int64_t index) const {
  return {index * block_size, std::min(context_len, (index + 1) * block_size)};
}

TokenRange StarLayout::blocks_of(int rank) const {
  // Contiguous groups; the first (num_blocks % N) ranks take one block more.
  const int64_t blocks = num_blocks(), base = blocks / world_size, extra = blocks % world_size;
  const int64_t first = rank * base + std::min<int64_t>(rank, extra);
  return {first, first + base + (rank < extra ? 1 : 0)};
}

int64_t StarLayout::tokens_of(int rank) const {
  TokenRange owned = blocks_of(rank);
  if (owned.size() == 0) return 0;
  return block(owned.end - 1).end - block(owned.begin).begin;
}

int64_t StarLayout::max_tokens_per_rank() const {
  int64_t most = 0;
  for (int rank = 0; rank < world_size; ++rank) most = std::max(most, tokens_of(rank));
  return most;
}

int64_t StarLayout::max_sequence_len() const { return std::min(context_len, anchor_size + block_size); }

int64_t BlockRule::resolve(int64_t context_len, int world_size) const {
  if (divisor > 0) return (context_len + divisor - 1) / divisor;
  if (tokens > 0) return tokens;
  return (context_len + world_size - 1) / world_size;
}

std::string BlockRule::label() const {
  if (divisor > 0) return fmt::format("C/{}", divisor);
  return tokens > 0 ? "fixed" : "C/ranks";
}

BlockRule parse_block_rule(const std::string& text) {
  auto whole_number = [&](const std::string& digits) {
    SB_REQUIRE(!digits.empty() && digits.size() <= 12 &&
                   std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }),
               "star: --block-size '{}' is not a number of tokens, 0 (context / ranks) or C/k (context / k)", text);
    return int64_t(std::stoll(digits));
  };
  BlockRule rule;
  if (text.size() > 2 && (text[0] == 'C' || text[0] == 'c') && text[1] == '/') {
    rule.divisor = whole_number(text.substr(2));
    SB_REQUIRE(rule.divisor >= 1, "star: --block-size {} divides the context by zero", text);
    return rule;
  }
  SB_REQUIRE(text.empty() || text[0] != '-', "star: --block-size {} is negative (0 means context / ranks)", text);
  rule.tokens = whole_number(text);
  return rule;
}

void check_star_sizes(int64_t block_size, int64_t anchor_size) {
  SB_REQUIRE(block_size >= 0, "star: --block-size {} is negative (0 means context / ranks)", block_size);
  SB_REQUIRE(anchor_size >= -1, "star: --anchor-size {} is negative (-1 means the block size, 0 no anchor)",
             anchor_size);
}

StarLayout make_star_layout(int64_t context_len, int64_t block_size, int64_t anchor_size, int world_size) {
  SB_REQUIRE(context_len > 0, "star: the context is empty");
  SB_REQUIRE(world_size >= 1, "star: world size {} is invalid", world_size);
  check_star_sizes(block_size, anchor_size);
  if (block_size == 0) block_size = (context_len + world_size - 1) / world_size;
  SB_REQUIRE(block_size <= context_len, "star: --block-size {} is larger than the context ({} tokens)", block_size,
             context_len);
  if (anchor_size == -1) anchor_size = block_size;
  SB_REQUIRE(anchor_size <= block_size, "star: --anchor-size {} is larger than a block ({} tokens)", anchor_size,
             block_size);
  StarLayout layout{context_len, block_size, anchor_size, world_size};
  SB_REQUIRE(layout.num_blocks() >= world_size,
             "star: {} ranks but only {} blocks of {} tokens in a {}-token context (each rank needs a block; use "
             "fewer ranks or a smaller --block-size)",
             world_size, layout.num_blocks(), block_size, context_len);
  return layout;
}

}  // namespace sb
