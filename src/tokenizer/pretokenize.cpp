#include "tokenizer/pretokenize.h"

#include <cstdint>

#include "tokenizer/unicode_class.h"

namespace sb {
namespace {

enum class Class : uint8_t { kLetter, kNumber, kSpace, kOther };

// The text decoded once into code points with their byte offsets and classes, so
// the matcher can look ahead without re-decoding.
struct Decoded {
  std::vector<uint32_t> cp;
  std::vector<uint32_t> offset;  // byte offset of cp[i]; offset[n] = text size
  std::vector<Class> cls;
};

Class classify(uint32_t cp) {
  if (is_unicode_letter(cp)) return Class::kLetter;
  if (is_unicode_number(cp)) return Class::kNumber;
  if (is_unicode_space(cp)) return Class::kSpace;
  return Class::kOther;
}

Decoded decode(std::string_view text) {
  Decoded d;
  d.cp.reserve(text.size());
  d.offset.reserve(text.size() + 1);
  d.cls.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t length;
    const uint32_t cp = decode_utf8(text, pos, &length);
    d.cp.push_back(cp);
    d.offset.push_back(static_cast<uint32_t>(pos));
    d.cls.push_back(classify(cp));
    pos += length;
  }
  d.offset.push_back(static_cast<uint32_t>(text.size()));
  return d;
}

bool is_newline(uint32_t cp) { return cp == '\r' || cp == '\n'; }
uint32_t lower_ascii(uint32_t cp) { return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; }

// Length (in code points) of a contraction ('s 't 're 've 'm 'll 'd, any case) at i, or 0.
size_t match_contraction(const Decoded& d, size_t i) {
  const size_t n = d.cp.size();
  if (d.cp[i] != '\'' || i + 1 >= n) return 0;
  const uint32_t a = lower_ascii(d.cp[i + 1]);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= n) return 0;
  const uint32_t b = lower_ascii(d.cp[i + 2]);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// Length in code points of the regex's leftmost-first match at i (always >= 1).
size_t match_at(const Decoded& d, size_t i) {
  const size_t n = d.cp.size();
  const auto cls = [&](size_t k) { return d.cls[k]; };
  if (size_t len = match_contraction(d, i)) return len;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  {
    size_t j = i;
    if (cls(j) != Class::kLetter && cls(j) != Class::kNumber && !is_newline(d.cp[j])) ++j;
    if (j < n && cls(j) == Class::kLetter) {
      while (j < n && cls(j) == Class::kLetter) ++j;
      return j - i;
    }
  }
  // \p{N}{1,3}
  if (cls(i) == Class::kNumber) {
    size_t j = i;
    while (j < n && j - i < 3 && cls(j) == Class::kNumber) ++j;
    return j - i;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  {
    size_t j = i;
    if (d.cp[j] == ' ') ++j;
    if (j < n && cls(j) == Class::kOther) {
      while (j < n && cls(j) == Class::kOther) ++j;
      while (j < n && is_newline(d.cp[j])) ++j;
      return j - i;
    }
  }
  // What is left starts with whitespace (every other class matched above).
  size_t run_end = i;
  size_t last_newline = SIZE_MAX;
  while (run_end < n && cls(run_end) == Class::kSpace) {
    if (is_newline(d.cp[run_end])) last_newline = run_end;
    ++run_end;
  }
  // \s*[\r\n]+ : greedy \s* backs off to the last newline of the run.
  if (last_newline != SIZE_MAX) return last_newline + 1 - i;
  // \s+(?!\S) : the whole run at the end of text, else all but its last char.
  if (run_end == n) return run_end - i;
  if (run_end - i >= 2) return run_end - 1 - i;
  // \s+
  return run_end - i;
}

}  // namespace

void llama3_pretokenize(std::string_view text, std::vector<std::string_view>* pieces) {
  pieces->clear();
  const Decoded d = decode(text);
  for (size_t i = 0; i < d.cp.size();) {
    const size_t len = match_at(d, i);
    pieces->push_back(text.substr(d.offset[i], d.offset[i + len] - d.offset[i]));
    i += len;
  }
}

}  // namespace sb
