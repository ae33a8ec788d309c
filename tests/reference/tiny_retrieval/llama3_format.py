"""What makes a tokenizer.json "Llama-3" for starbench's C++ loader (src/tokenizer/):
the Split pre-tokenizer with exactly Llama-3's regex, then a byte-level mapping;
a BPE model over the GPT-2 byte alphabet (all 256 single-byte tokens present);
no normalizer; Llama-3's special tokens as added tokens. Pure Python (no
dependencies): the training pipeline and the CLI tests both use it.
"""
import json

# The Llama-3 split regex, character for character as tokenizer.json holds it
# (src/tokenizer/pretokenize.h: kLlama3SplitPattern; the loader refuses any other).
SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
EOT = "<|eot_id|>"
# Llama-3's first special tokens in its order (ids 128000..), then reserved ones
# up to SPECIAL_COUNT. They follow the BPE vocabulary, as in Llama-3.
SPECIAL_TOKENS = [BOS, EOS, "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                  "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|eom_id|>", EOT, "<|python_tag|>"]
SPECIAL_COUNT = 16


def special_tokens(count=SPECIAL_COUNT):
    tokens = list(SPECIAL_TOKENS)
    reserved = 3
    while len(tokens) < count:
        tokens.append(f"<|reserved_special_token_{reserved}|>")
        reserved += 1
    return tokens


def bytes_to_unicode():
    """GPT-2's byte alphabet: every byte as one printable character."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


def pre_tokenizer_json():
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}


def added_token_json(content, token_id):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def byte_level_tokenizer_json(special_count=SPECIAL_COUNT):
    """A Llama-3-shaped tokenizer with no merges: one token per byte (ids 0..255)
    plus special_count special tokens. Task text sized with it is sized in bytes,
    which is all the first step of the pipeline (a corpus to train the real BPE
    on) needs; tests use it as a tokenizer any machine can make."""
    alphabet = bytes_to_unicode()
    vocab = {alphabet[b]: b for b in range(256)}
    added = [added_token_json(t, 256 + i) for i, t in enumerate(special_tokens(special_count))]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": pre_tokenizer_json(), "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": True, "vocab": vocab, "merges": []}}


def write_byte_level_tokenizer(path, special_count=SPECIAL_COUNT):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(byte_level_tokenizer_json(special_count), f, ensure_ascii=False)


if __name__ == "__main__":
    # llama3_format.py OUT.json [SPECIAL_COUNT]: writes the byte-level tokenizer.
    import sys
    write_byte_level_tokenizer(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else SPECIAL_COUNT)
