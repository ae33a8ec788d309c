#pragma once
// The Llama-3 pre-tokenizer: splits text into pieces that BPE encodes
// independently. A hand-written matcher for exactly this regex (tokenizer.json's
// pre_tokenizer Split pattern), because std::regex has no \p{L}/\p{N} and is slow:
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
#include <string_view>
#include <vector>

namespace sb {

inline constexpr std::string_view kLlama3SplitPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Calls emit(piece) for each piece, in order; the pieces concatenate to text.
void llama3_pretokenize(std::string_view text, std::vector<std::string_view>* pieces);

}  // namespace sb
