#!/usr/bin/env python3
"""Writes a deterministic tokenizer test corpus: a JSON array of strings covering
what the Llama-3 pre-tokenizer and BPE must get right (code, numbers, whitespace
runs, tabs, CRLF, CJK, emoji, accents, contractions in any case, special-token
text). Usage: make_corpus.py OUT.json [--big-bytes N OUT_BIG.txt]
"""
import json
import random
import sys

FIXED = [
    "", " ", "  ", "\n", "\n\n", "\r\n", " \n ", "\t", "\t\tx", "a", "A",
    "Hello world", "Hello, world!", "hello   world", "trailing spaces   ", "   leading",
    "I'm here. You're there. They've gone. We'll see. He'd go. It's 'quoted'.",
    "I'M HERE. YOU'RE THERE. THEY'VE GONE. WE'LL SEE. HE'D GO. IT'S.", "DON'T 'S 'LL 'Ll 'lL 'RE 'Ve",
    "'s's's", "''s", "' s", "rock'n'roll", "O'Neill's dog's bone",
    "1", "12", "123", "1234", "12345678901234567890", "3.14159", "-42", "1,000,000", "2024-11-22T16:58:22Z",
    "x=1+2*3/4-5", "0x1F 0b1010 1e-9",
    "def f(x):\n    return x ** 2\n", "int main() {\n\treturn 0;\n}\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
    "if x:\n\n\n    pass\n", "<html><body class=\"x\">hi</body></html>", "SELECT * FROM t WHERE a = 'b';",
    "   \n   \n   x", "a\r\n\r\nb", "a \r\n b", "end with newline\n", "end with spaces and newline  \n",
    "tabs\tand\tspaces \t mixed", "multiple\n\n\n\nnewlines", "\n\n  indented after blank lines",
    "café naïve résumé façade Ångström über straße", "Ελληνικά κείμενα", "Русский текст, пример.",
    "日本語のテキストです。", "中文文本，标点符号。", "한국어 텍스트", "عربي ١٢٣٤", "हिन्दी पाठ",
    "emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷", "math ∑ ∫ √ ∞ ≤ ≥ ≠", "numbers ² ³ ½ Ⅻ ⅷ ٣ ۴ ๕",
    "<|begin_of_text|>", "<|eot_id|>", "a<|eot_id|>b", " <|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<|reserved_special_token_0|><|reserved_special_token_250|>", "<|not_a_token|>", "<|eot_id", "<<|eot_id|>>",
    "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX", "MiXeD CaSe WoRdS",
    "email me at someone@example.com or https://example.org/path?q=1&r=2#frag",
    "$100 €50 £20 ¥1000", "!!!???...;;;", " !!!", "  !!!\n\n", "...\n", "a.b.c", "—–-", "«quoted» “smart” ‘single’",
    "\u00a0non-breaking\u00a0space", "ideographic\u3000space", "em\u2003space", "zero\u200bwidth",
]

WORDS = ["the", "of", "and", "a", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as",
         "with", "his", "they", "I", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word",
         "Tokenization", "antidisestablishmentarianism", "Llama", "attention", "GPU", "naïve", "東京", "Zürich",
         "don't", "WE'LL", "it's", "résumé", "ℌilbert", "x86_64", "C++20", "foo_bar", "camelCase", "snake_case"]
PUNCT = [".", ",", "!", "?", ";", ":", "(", ")", "[", "]", "{", "}", "\"", "'", "-", "_", "/", "\\", "@", "#",
         "$", "%", "^", "&", "*", "+", "=", "<", ">", "|", "~", "`", "...", "--", "…", "、", "。"]
SPACES = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "    ", "\u00a0", "\u3000"]
EXOTIC = ["😀", "🚀", "👍🏽", "é", "ß", "ø", "中", "語", "ア", "한", "ж", "λ", "٣", "²", "Ⅻ", "<|eot_id|>",
          "<|begin_of_text|>", "<|end_header_id|>"]


def random_string(rng):
    parts = []
    for _ in range(rng.randint(1, 40)):
        r = rng.random()
        if r < 0.45:
            w = rng.choice(WORDS)
            parts.append(w.upper() if rng.random() < 0.1 else w)
        elif r < 0.6:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 12))))
        elif r < 0.75:
            parts.append(rng.choice(PUNCT) * rng.randint(1, 3))
        elif r < 0.93:
            parts.append(rng.choice(SPACES))
        else:
            parts.append(rng.choice(EXOTIC))
        if rng.random() < 0.5:
            parts.append(" ")
    return "".join(parts)


def corpus(count=400, seed=1234):
    rng = random.Random(seed)
    out = list(FIXED)
    out.append(" " * 300 + "x")           # long whitespace run
    out.append("=" * 500)                  # long symbol run
    out.append("9" * 200)                  # long digit run
    out.append("ab" * 300)                 # long letter run
    while len(out) < count:
        out.append(random_string(rng))
    return out


def main():
    strings = corpus()
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(strings, f, ensure_ascii=False)
    if len(sys.argv) == 5 and sys.argv[2] == "--big-bytes":
        target, path = int(sys.argv[3]), sys.argv[4]
        rng = random.Random(99)
        chunks, size = [], 0
        while size < target:
            s = random_string(rng) + rng.choice(["\n", " ", "\n\n"])
            chunks.append(s)
            size += len(s.encode("utf-8"))
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(chunks))


if __name__ == "__main__":
    main()
