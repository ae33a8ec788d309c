#include "attention/star_method.h"

#include "attention/global_method.h"
#include "util/error.h"

namespace sb {

void StarMethod::encode_context(const std::vector<int32_t>& context) {
  SB_REQUIRE(int64_t(context.size()) == context_len_, "star: expected {} context tokens, got {}", context_len_,
             context.size());
  allocate_context_kv(layout_.tokens_of(comm_.rank()));
  const TokenRange owned = layout_.blocks_of(comm_.rank());
  for (int64_t block_index = owned.begin; block_index < owned.end; ++block_index) {
    const TokenRange block = layout_.block(block_index);
    const int64_t anchor_tokens = block_index == 0 ? 0 : layout_.anchor_size;
    // anchor_size <= block_size, so the tokens before a block (index >= 1) exist.
    const int64_t anchor_begin = anchor_source_ == "previous" ? block.begin - anchor_tokens : 0;
    const int64_t position_begin = anchor_positions_ == "adjacent" ? block.begin - anchor_tokens : anchor_begin;
    std::vector<int32_t> tokens, positions;
    tokens.reserve(size_t(anchor_tokens + block.size()));
    positions.reserve(tokens.capacity());
    for (int64_t i = 0; i < anchor_tokens; ++i) {
      tokens.push_back(context[size_t(anchor_begin + i)]);
      positions.push_back(int32_t(position_begin + i));
    }
    for (int64_t i = block.begin; i < block.end; ++i) {
      tokens.push_back(context[size_t(i)]);
      positions.push_back(int32_t(i));
    }
    // The anchor's KV is recomputed per block and dropped: only the block's
    // rows are kept (the paper's memory saving).
    CausalPrefillAttention attention(model_.backend(), context_kv_, anchor_tokens,
                                     [&](int layer, const Tensor& k, const Tensor& v) {
                                       observe_phase1_kv(layer, k, v, anchor_tokens, block);
                                     });
    model_.forward(tokens, positions, attention);
  }
}

}  // namespace sb
