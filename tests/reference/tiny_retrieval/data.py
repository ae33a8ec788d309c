"""Training examples from `starbench tasks` JSON lines (numpy only, no torch).

An example is BOS + context + query (tokenized as `run --task` does: each part
on its own, no chat template) + the completion the model should answer with +
EOS. Completions: niah_* " v1, v2, v3." (multivalue in the order the values
appear in the context), vt " NAME1 NAME2 ..." (chain order).

Augmentation: the answers (7-digit numbers, uuids, vt names and vt's value)
are swapped for fresh random ones each time an example is drawn, so a pool of
generated samples yields new retrieval problems every epoch and no key can be
memorised. A sample's text is cut into segments around every occurrence of a
swappable string (with its leading space). Those cuts fall on pre-token
boundaries (digits, capitals and uuids are delimited by spaces and
punctuation in every template), so the segments' token ids concatenate to the
whole text's ids; `check_segmentation` verifies that on real samples at start.
"""
import json
import random
import re

import numpy as np

# Tasks the model trains on and how often each is drawn (retrieval tasks of
# RULER's NIAH family and variable tracking; cwe/fwe need counting, which a
# model of this size is not expected to learn in minutes).
TRAIN_TASK_WEIGHTS = {
    "niah_single_1": 1.0, "niah_single_2": 1.5, "niah_single_3": 1.0, "niah_multikey_1": 2.0,
    "niah_multikey_2": 1.5, "niah_multikey_3": 1.0, "niah_multivalue": 1.0, "niah_multiquery": 1.0, "vt": 2.5,
}

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
VT_NAME_RE = re.compile(r"^[A-Z]{5}$")
DIGITS_RE = re.compile(r"^[0-9]+$")
VT_VALUE_RE = re.compile(r"assigned the value ([0-9]+) in the text")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def ordered_answers(sample):
    """The answers in the order a reader meets them: multivalue by position in the context."""
    answers = list(sample["answers"])
    if sample["task"] == "niah_multivalue":
        answers.sort(key=lambda a: sample["context"].find(a))
    return answers


def completion_text(sample):
    answers = ordered_answers(sample)
    if sample["task"] == "vt":
        return " " + " ".join(answers)
    return " " + ", ".join(answers) + "."


def slot_kind(text):
    if DIGITS_RE.match(text) and text[0] != "0":
        return "digits"
    if VT_NAME_RE.match(text):
        return "vt_name"
    if UUID_RE.match(text):
        return "uuid"
    return None


def swappable_strings(sample):
    """The strings of a sample that may be replaced by fresh random ones."""
    out = [a for a in sample["answers"] if slot_kind(a)]
    if sample["task"] == "vt":
        match = VT_VALUE_RE.search(sample["query"])
        if match:
            out.append(match.group(1))
    if sample["task"] not in TRAIN_TASK_WEIGHTS:
        return []
    return sorted(set(out), key=len, reverse=True)


def slot_pattern(originals):
    """Whole occurrences of the swappable strings, with the space before them if any."""
    return re.compile(r" ?(?<![0-9A-Za-z-])(" + "|".join(re.escape(o) for o in originals) + r")(?![0-9A-Za-z])")


def split_text(text, originals, pattern=None):
    """[(kind, value)]: ("text", str) pieces and ("slot"/"slot_space", original) where a
    swappable string (with the space before it, if any) stands."""
    if not originals:
        return [("text", text)] if text else []
    pattern = pattern or slot_pattern(originals)
    pieces, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            pieces.append(("text", text[pos:m.start()]))
        pieces.append(("slot_space" if m.group(0).startswith(" ") else "slot", m.group(1)))
        pos = m.end()
    if pos < len(text):
        pieces.append(("text", text[pos:]))
    return pieces


class Tokens:
    """Token ids of the strings examples are made of: a tokenizer (anything with
    encode_batch(list[str]) -> list[list[int]]) plus caches for the swapped
    values (digit groups of up to 3, as Llama-3's pre-tokenizer cuts numbers)."""

    def __init__(self, encode_batch, rng):
        self.encode_batch = encode_batch
        groups = [str(i) for i in range(10)] + [f"{i:02d}" for i in range(100)] + [f"{i:03d}" for i in range(1000)]
        ids = encode_batch([" "] + groups)
        self.space = ids[0]
        self.group = dict(zip(groups, ids[1:]))
        self.pools = {}
        # Pools of fresh names / uuids, tokenized once with their leading space.
        names = sorted({"".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5)) for _ in range(20000)})
        uuids = [random_uuid(rng) for _ in range(8000)]
        for kind, values in (("vt_name", names), ("uuid", uuids)):
            spaced = encode_batch([" " + v for v in values])
            plain = encode_batch(values)
            self.pools[kind] = (values, spaced, plain)

    def digits(self, text, space):
        out = list(self.space) if space else []
        for i in range(0, len(text), 3):
            out += self.group[text[i:i + 3]]
        return out


def random_uuid(rng):
    a, b = rng.getrandbits(64), rng.getrandbits(64)
    return (f"{a >> 32:08x}-{(a >> 16) & 0xFFFF:04x}-4{a & 0xFFF:03x}-{0x8000 | ((b >> 48) & 0x3FFF):04x}-"
            f"{b & 0xFFFFFFFFFFFF:012x}")


class Example:
    """One sample as pieces: ("ids", np.int32 array, is_answer, part) or
    ("slot", original, has_space, is_answer, part); part: -1 BOS/EOS, 0 context, 1 query, 2 completion."""

    __slots__ = ("task", "target", "pieces", "originals")

    def __init__(self, task, target, pieces, originals):
        self.task, self.target, self.pieces, self.originals = task, target, pieces, originals


def make_examples(samples, tokens, bos_id, eos_id, augment=True):
    """Tokenizes every sample's pieces in one batch call."""
    plans, texts = [], []
    for s in samples:
        originals = swappable_strings(s) if augment else []
        pattern = slot_pattern(originals) if originals else None
        plan = []
        for part, (text, is_answer) in enumerate(((s["context"], False), (s["query"], False),
                                                  (completion_text(s), True))):
            # Context, query and completion are tokenized apart, as run --task does
            # (and as generation continues after the query).
            for kind, value in split_text(text, originals, pattern):
                if kind == "text":
                    plan.append(("text", len(texts), is_answer, part))
                    texts.append(value)
                else:
                    plan.append(("slot", value, kind == "slot_space", is_answer, part))
        plans.append((s, originals, plan))
    ids = tokens.encode_batch(texts) if texts else []
    examples = []
    for s, originals, plan in plans:
        pieces = [("ids", np.array([bos_id], np.int32), False, -1)]
        for item in plan:
            if item[0] == "text":
                pieces.append(("ids", np.asarray(ids[item[1]], np.int32), item[2], item[3]))
            else:
                pieces.append(item)
        pieces.append(("ids", np.array([eos_id], np.int32), True, -1))
        examples.append(Example(s["task"], s["target_tokens"], pieces, originals))
    return examples


def fresh_values(originals, rng, tokens):
    """original -> (new text, ids without space, ids with space); same kind and length, all distinct."""
    out, used = {}, set()
    for original in originals:
        kind = slot_kind(original)
        while True:
            if kind == "digits":
                n = len(original)
                text = str(rng.randrange(10 ** (n - 1), 10 ** n))
                entry = (text, tokens.digits(text, False), tokens.digits(text, True))
            else:
                values, spaced, plain = tokens.pools[kind]
                k = rng.randrange(len(values))
                text = values[k]
                entry = (text, plain[k], spaced[k])
            if text not in used and text not in originals:
                break
        used.add(text)
        out[original] = entry
    return out


def build(example, rng, tokens, swap=True, with_parts=False):
    """(ids, is_answer) as int32 / bool arrays; answers swapped for fresh values when
    swap. with_parts adds each token's part (-1 BOS/EOS, 0 context, 1 query, 2 completion)."""
    values = fresh_values(example.originals, rng, tokens) if swap and example.originals else None
    id_parts, answer_parts, part_marks = [], [], []
    for piece in example.pieces:
        if piece[0] == "ids":
            _, arr, flag, part = piece
        else:
            _, original, space, flag, part = piece
            if values is not None:
                arr = np.asarray(values[original][2 if space else 1], np.int32)
            elif slot_kind(original) == "digits":
                arr = np.asarray(tokens.digits(original, space), np.int32)
            else:
                arr = np.asarray(tokens.encode_batch([(" " if space else "") + original])[0], np.int32)
        id_parts.append(arr)
        answer_parts.append(np.full(len(arr), flag, dtype=bool))
        if with_parts:
            part_marks.append(np.full(len(arr), part, dtype=np.int8))
    ids, flags = np.concatenate(id_parts), np.concatenate(answer_parts)
    return (ids, flags, np.concatenate(part_marks)) if with_parts else (ids, flags)


def check_segmentation(samples, tokens, bos_id, eos_id, decode, count=40, seed=0):
    """Segments tokenized apart must give the whole parts' ids (no swap), and each
    part of a swapped example, decoded and re-encoded, must give its own ids (the
    swap kept pre-token boundaries). Returns a list of problems (empty: all good)."""
    rng = random.Random(seed)
    problems = []
    chosen = samples[:count]
    for s, ex in zip(chosen, make_examples(chosen, tokens, bos_id, eos_id)):
        name = f"{s['task']} {s['target_tokens']} #{s['index']}"
        texts = [s["context"], s["query"], completion_text(s)]
        whole = [bos_id] + [i for ids in tokens.encode_batch(texts) for i in ids] + [eos_id]
        ids, _ = build(ex, rng, tokens, swap=False)
        if ids.tolist() != whole:
            problems.append(f"{name}: segments tokenized apart differ from the whole text's ids")
            continue
        swapped, _, parts = build(ex, rng, tokens, swap=True, with_parts=True)
        for part in (0, 1, 2):
            part_ids = swapped[parts == part].tolist()
            if tokens.encode_batch([decode(part_ids)])[0] != part_ids:
                problems.append(f"{name}: part {part} of a swapped example re-encodes differently")
    return problems


class Pool:
    """Examples by (length, task), drawn at random with the task weights."""

    def __init__(self, examples, task_weights):
        self.by_key = {}
        for ex in examples:
            self.by_key.setdefault((ex.target, ex.task), []).append(ex)
        self.task_weights = task_weights

    def lengths(self):
        return sorted({k[0] for k in self.by_key})

    def draw(self, length, count, rng):
        tasks = [t for (l, t) in self.by_key if l == length and self.task_weights.get(t, 0) > 0]
        if not tasks:
            raise ValueError(f"no training samples at length {length}")
        weights = [self.task_weights[t] for t in tasks]
        chosen = rng.choices(tasks, weights=weights, k=count)
        return [rng.choice(self.by_key[(length, t)]) for t in chosen]


def make_batch(examples, rng, tokens, pad_id, pad_to=64, swap=True):
    """input ids [B, T], targets [B, T] (-100: no loss), answer mask [B, T] as numpy:
    position t predicts token t + 1."""
    built = [build(ex, rng, tokens, swap=swap) for ex in examples]
    longest = max(len(ids) for ids, _ in built) - 1
    width = -(-longest // pad_to) * pad_to
    inputs = np.full((len(built), width), pad_id, np.int64)
    targets = np.full((len(built), width), -100, np.int64)
    answer = np.zeros((len(built), width), bool)
    for row, (ids, flags) in enumerate(built):
        n = len(ids) - 1
        inputs[row, :n] = ids[:-1]
        targets[row, :n] = ids[1:]
        answer[row, :n] = flags[1:]
    return inputs, targets, answer
