#pragma once
// GPT-2 byte-level alphabet: every byte maps to one printable code point, so a
// vocabulary of byte strings can be written as JSON text ("Ġ" is the space byte).
#include <optional>
#include <string>
#include <string_view>

namespace sb {

// The byte string a tokenizer.json vocabulary entry stands for; nullopt when the
// entry contains a character outside the byte-level alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view token_text);

// The inverse: raw bytes written in the byte-level alphabet (UTF-8).
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace sb
