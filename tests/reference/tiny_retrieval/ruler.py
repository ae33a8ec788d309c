"""RULER's scoring and answer budgets as starbench implements them (no torch):
src/metrics/ruler_score.cpp and src/tasks/task_prompt.cpp."""


def postprocess(prediction):
    """Control characters become newlines, surrounding whitespace is stripped."""
    out = "".join("\n" if ord(c) < 0x20 else c for c in prediction)
    return out.strip(" \t\n\r\v\f")


def sample_score(metric, prediction, references):
    """string_match_all: share of references found; string_match_part: any found
    (case-insensitive substrings)."""
    pred = postprocess(prediction).lower()
    found = [r.lower() in pred for r in references]
    if metric == "all":
        return sum(found) / len(references)
    if metric == "part":
        return 1.0 if any(found) else 0.0
    raise ValueError(f"unknown RULER metric {metric!r}")


def answer_budget(task):
    """RULER's tokens_to_generate (ruler_answer_tokens)."""
    if task.startswith("niah"):
        return 128
    return {"vt": 30, "cwe": 120, "fwe": 50}.get(task, 32)


def prompt_ids(sample, encode, bos_id):
    """`run --task` without the chat template: BOS + ids(context) + ids(query), each part on its own."""
    return [bos_id] + encode(sample["context"]) + encode(sample["query"])
