"""Greedy evaluation as `starbench run --task` does it, scored as RULER (ruler.py).

Prompt: BOS + ids(context) + ids(query), each part tokenized on its own, no
chat template (src/tasks/task_prompt.cpp). Greedy tokens until an EOS id of the
model config or the answer budget (RULER's per-task tokens_to_generate, or
--task-generate); the text of the tokens before EOS is scored with RULER's
string_match_all / string_match_part (src/metrics/ruler_score.cpp: control
characters become newlines, surrounding whitespace is stripped, references are
found case-insensitively as substrings). Samples of one task and length run
as one left-padded batch with a KV cache: each row's positions start at 0 at
its first real token, so every row computes exactly its unpadded forward.
"""
import time

import torch

from ruler import answer_budget, prompt_ids, sample_score


class HFStepper:
    """transformers LlamaForCausalLM with its own cache."""

    def __init__(self, model, new_cache):
        self.model, self.new_cache = model, new_cache

    def start(self):
        return self.new_cache()

    def __call__(self, ids, positions, mask, cache):
        out = self.model(input_ids=ids, position_ids=positions, attention_mask=mask, past_key_values=cache,
                         use_cache=True)
        return out.logits[:, -1, :].float(), out.past_key_values


class OwnStepper:
    """model.TinyLlama.infer (the training model): local dry runs and cross-checks."""

    def __init__(self, model):
        self.model = model

    def start(self):
        return self.model.new_caches()

    def __call__(self, ids, positions, mask, cache):
        logits = self.model.infer(ids, positions, mask, cache)
        return logits[:, -1, :].float(), cache


@torch.no_grad()
def greedy_batch(stepper, prompts, eos_ids, max_new, pad_id, device):
    """Greedy continuations (token lists, EOS excluded) of left-padded prompts."""
    width = max(len(p) for p in prompts)
    b = len(prompts)
    ids = torch.full((b, width), pad_id, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = stepper.start()
    logits, cache = stepper(ids, positions, mask, cache)
    next_pos = positions[:, -1] + 1
    out = [[] for _ in range(b)]
    done = torch.zeros(b, dtype=torch.bool, device=device)
    eos = torch.tensor(sorted(eos_ids), device=device)
    for step in range(max_new):
        token = logits.argmax(-1)
        is_eos = (token[:, None] == eos[None]).any(-1)
        for row in range(b):
            if not done[row] and not is_eos[row]:
                out[row].append(int(token[row]))
        done |= is_eos
        if bool(done.all()) or step + 1 == max_new:
            break
        mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=device)], dim=1)
        logits, cache = stepper(token[:, None], next_pos[:, None], mask, cache)
        next_pos = next_pos + 1
    return out


def evaluate(stepper, samples, encode, decode, bos_id, eos_ids, pad_id, device, batch_size=50, log=print,
             deadline=None):
    """Per-sample records and a {(task, target): accuracy %} table. Stops early (and
    says so) when the deadline (time.time() value) passes."""
    groups = {}
    for s in samples:
        groups.setdefault((s["task"], s["target_tokens"]), []).append(s)
    records, table = [], {}
    for (task, target), group in groups.items():
        if deadline is not None and time.time() > deadline:
            log(f"  evaluation stopped at the time budget before {task} {target}")
            break
        scores = []
        for start in range(0, len(group), batch_size):
            chunk = group[start:start + batch_size]
            prompts = [prompt_ids(s, encode, bos_id) for s in chunk]
            outs = greedy_batch(stepper, prompts, eos_ids, answer_budget(task), pad_id, device)
            for s, p, out in zip(chunk, prompts, outs):
                text = decode(out)
                score = sample_score(s["metric"], text, s["answers"])
                scores.append(score)
                records.append(dict(task=task, target_tokens=target, index=s["index"], prompt_tokens=len(p),
                                    depth=s["depth"], answers=s["answers"], prediction=text, score=score))
        table[(task, target)] = 100.0 * sum(scores) / len(scores)
        log(f"  eval {task:<16} {target:>5} tokens: {table[(task, target)]:5.1f}% of {len(scores)}")
    return records, table


def padding_check(stepper, records, samples, encode, decode, bos_id, eos_ids, pad_id, device, count=4):
    """Batched (left-padded) answers must equal each sample run alone: (checked, equal)."""
    by_key = {(r["task"], r["target_tokens"], r["index"]): r["prediction"] for r in records}
    checked = equal = 0
    for s in samples:
        key = (s["task"], s["target_tokens"], s["index"])
        if key not in by_key or checked == count:
            continue
        out = greedy_batch(stepper, [prompt_ids(s, encode, bos_id)], eos_ids, answer_budget(s["task"]), pad_id,
                           device)[0]
        checked += 1
        equal += decode(out) == by_key[key]
    return checked, equal


def format_table(table):
    tasks = sorted({t for t, _ in table})
    lengths = sorted({n for _, n in table})
    lines = [f"{'task':<16}" + "".join(f"{n:>8}" for n in lengths)]
    for t in tasks:
        lines.append(f"{t:<16}" + "".join(f"{table[(t, n)]:>8.1f}" if (t, n) in table else f"{'-':>8}"
                                           for n in lengths))
    return "\n".join(lines)
