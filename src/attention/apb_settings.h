#pragma once
// APB's settings (arXiv 2502.12085; attention/apb_method.h), parsed once where
// they enter: the anchor's and the passing block's sizes (tokens or C/k), where
// the query goes, and where the compressor's weights come from; and their plan
// for one context length and host count (ApbLayout).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "attention/layout.h"
#include "attention/setting_names.h"

namespace sb {

class ApbCompressor;

// A number of tokens as a user gives it: N, or C/k (the context / k, rounded
// up). Unlike star's BlockRule, 0 means none (no anchor, no passing block).
struct ApbSize {
  int64_t tokens = 0;
  int64_t divisor = 0;  // C/k when > 0
  int64_t resolve(int64_t context_len) const { return divisor > 0 ? (context_len + divisor - 1) / divisor : tokens; }
  std::string label() const;  // "512" or "C/32"
  bool operator==(const ApbSize&) const = default;
};
// `flag` names the option in the refusal ("--apb-anchor").
ApbSize parse_apb_size(const std::string& text, const std::string& flag);

// --apb-query-in-anchor: whether hosts 1..H-1 put the query tokens into their
// anchor, right after its context tokens (the paper does; off is its ablation).
enum class ApbQueryInAnchor { Off, On };
template <>
struct SettingNames<ApbQueryInAnchor> {
  static constexpr std::array<std::pair<ApbQueryInAnchor, std::string_view>, 2> table{
      {{ApbQueryInAnchor::On, "on"}, {ApbQueryInAnchor::Off, "off"}}};
  static constexpr std::string_view unknown = "apb: --apb-query-in-anchor '{name}' is not one of {valid}";
};

// --apb-compressor DIR (DIR/compressor.safetensors, docs/APB.md) or random:SEED
// (seeded synthetic weights, hidden kApbRandomHidden: timing runs).
struct ApbCompressorSource {
  std::string dir;    // non-empty: load from here
  uint64_t seed = 0;  // random:SEED when dir is empty
  bool given = false;
  std::string label() const;  // the directory as given, or "random:SEED"
  bool operator==(const ApbCompressorSource&) const = default;
};
constexpr int64_t kApbRandomHidden = 1024;  // the released compressors' fc1 width
ApbCompressorSource parse_apb_compressor_source(const std::string& text);

struct ApbSettings {
  // Defaults: the ratios of the paper's Table 8 from 32K to 256K (l_a = C/32,
  // l_p = C/64 at 8 hosts: 1K / 0.5K at 32K ... 8K / 4K at 256K).
  ApbSize anchor{0, 32};
  ApbSize passing{0, 64};
  ApbQueryInAnchor query_in_anchor = ApbQueryInAnchor::On;
  ApbCompressorSource source;
  // The loaded compressor (experiment/ resolves `source` against the model
  // and the backend); required by the method when the passing block is not empty.
  std::shared_ptr<const ApbCompressor> compressor;
};

// APB's flags as `run` (lists: a grid) and `forward` (one value each) take
// them (src/cli/apb_flags.cpp); a sweep expands them into ApbSettings.
struct ApbOptions {
  std::vector<ApbSize> anchors = {ApbSettings{}.anchor};
  std::vector<ApbSize> passings = {ApbSettings{}.passing};
  ApbQueryInAnchor query_in_anchor = ApbQueryInAnchor::On;
  ApbCompressorSource compressor;
};

// APB resolved for a context length and H hosts: host h owns block h of
// `blocks` (block size ceil(C / H), the last one possibly shorter); hosts
// h > 0 run [anchor; block] with anchor = the first `anchor` context tokens,
// then the query when query_in_anchor; `passing` rows per KV head per host.
struct ApbLayout {
  StarLayout blocks;  // block_size = l_b, anchor_size = l_a, world_size = H
  int64_t passing = 0;
  bool query_in_anchor = true;
  int64_t anchor_context_tokens() const { return blocks.anchor_size; }
  // Rows of host `rank`'s anchor with a query of query_len tokens (0 on host 0).
  int64_t anchor_rows(int rank, int64_t query_len) const {
    if (rank == 0) return 0;
    return blocks.anchor_size + (query_in_anchor ? query_len : 0);
  }
  // Rows a host's passing block selects (the last block may be shorter than l_p: it
  // passes its whole block; nobody reads the last host's passing block anyway).
  int64_t passing_rows(int rank) const { return std::min(passing, blocks.block(rank).size()); }
};
// sb::Error naming the setting: l_a > l_b, l_p > l_b, fewer blocks than hosts.
ApbLayout make_apb_layout(const ApbSettings& settings, int64_t context_len, int hosts);

}  // namespace sb
