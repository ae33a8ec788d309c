#pragma once
// The character classes the Llama-3 pre-tokenizer regex uses (\p{L}, \p{N}, \s),
// over code points decoded from UTF-8. Invalid UTF-8 bytes decode one at a time
// to a code point that is in no class, so any byte string can be split.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sb {

struct CodepointRange {
  uint32_t lo, hi;
};

// Decodes the code point starting at text[pos]; *length gets its byte count (>= 1).
// A malformed sequence yields kInvalidCodepoint with length 1.
inline constexpr uint32_t kInvalidCodepoint = 0xFFFFFFFFu;
uint32_t decode_utf8(std::string_view text, size_t pos, size_t* length);

bool is_unicode_letter(uint32_t cp);   // general category L*
bool is_unicode_number(uint32_t cp);   // general category N*
bool is_unicode_space(uint32_t cp);    // the White_Space property (what \s means in Unicode regex)

}  // namespace sb
