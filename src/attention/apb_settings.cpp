#include "attention/apb_settings.h"

#include <algorithm>

#include <fmt/format.h>

#include "util/error.h"

namespace sb {
namespace {

int64_t whole_number(const std::string& digits, const std::string& text, const std::string& flag) {
  SB_REQUIRE(!digits.empty() && digits.size() <= 12 &&
                 std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }),
             "apb: {} '{}' is not a number of tokens (>= 0) or C/k (the context / k)", flag, text);
  return int64_t(std::stoll(digits));
}

}  // namespace

std::string ApbSize::label() const { return divisor > 0 ? fmt::format("C/{}", divisor) : std::to_string(tokens); }

ApbSize parse_apb_size(const std::string& text, const std::string& flag) {
  ApbSize size;
  if (text.size() > 2 && (text[0] == 'C' || text[0] == 'c') && text[1] == '/') {
    size.divisor = whole_number(text.substr(2), text, flag);
    SB_REQUIRE(size.divisor >= 1, "apb: {} {} divides the context by zero", flag, text);
    return size;
  }
  size.tokens = whole_number(text, text, flag);
  return size;
}

std::string ApbCompressorSource::label() const { return dir.empty() ? fmt::format("random:{}", seed) : dir; }

ApbCompressorSource parse_apb_compressor_source(const std::string& text) {
  ApbCompressorSource source;
  source.given = true;
  const std::string prefix = "random:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string digits = text.substr(prefix.size());
    SB_REQUIRE(!digits.empty() && digits.size() <= 19 &&
                   std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }),
               "apb: --apb-compressor '{}': the seed after random: is not a whole number", text);
    source.seed = std::stoull(digits);
    return source;
  }
  SB_REQUIRE(!text.empty(), "apb: --apb-compressor is empty (a directory with compressor.safetensors, or random:SEED)");
  source.dir = text;
  return source;
}

ApbLayout make_apb_layout(const ApbSettings& settings, int64_t context_len, int hosts) {
  SB_REQUIRE(context_len > 0, "apb: the context is empty");
  SB_REQUIRE(hosts >= 1, "apb: {} hosts is invalid", hosts);
  const int64_t block = (context_len + hosts - 1) / hosts;
  const int64_t anchor = settings.anchor.resolve(context_len);
  const int64_t passing = settings.passing.resolve(context_len);
  SB_REQUIRE(anchor <= block,
             "apb: --apb-anchor {} is {} tokens, more than a host's block of {} tokens ({} tokens over {} hosts)",
             settings.anchor.label(), anchor, block, context_len, hosts);
  SB_REQUIRE(passing <= block,
             "apb: --apb-passing {} is {} tokens, more than a host's block of {} tokens ({} tokens over {} hosts): "
             "a host passes at most its whole block",
             settings.passing.label(), passing, block, context_len, hosts);
  ApbLayout layout;
  layout.blocks = StarLayout{context_len, block, anchor, hosts};
  SB_REQUIRE(layout.blocks.num_blocks() == hosts,
             "apb: a {}-token context cannot give each of {} hosts a block (blocks of {} tokens make {})", context_len,
             hosts, block, layout.blocks.num_blocks());
  layout.passing = passing;
  layout.query_in_anchor = settings.query_in_anchor == ApbQueryInAnchor::On;
  return layout;
}

}  // namespace sb
