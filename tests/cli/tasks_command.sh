#!/usr/bin/env bash
# `starbench tasks`: JSON lines with the samples `run --task` runs (same seed, same
# prompt ids), the same file for any thread count, clear errors that leave no file
# behind (and an existing file untouched).
source "$(dirname "$0")/common.sh"
words="$SOURCE_DIR/tests/reference/data/words/words.txt"
tok="$WORK/bytes.json"
# One token per byte (Llama-3 pre-tokenizer, no merges) + 256 special tokens: a tokenizer any
# machine can make, with as many ids as the `tiny` preset (so whatever it generates decodes).
"$PYTHON" "$SOURCE_DIR/tests/reference/tiny_retrieval/llama3_format.py" "$tok" 256
tasks=(tasks --tokenizer "$tok" --words "$words" --seq-len 2048,3000 --samples 3 --seed 11)

mpirun 1 "${tasks[@]}" --task niah_single_1,niah_multikey_2,vt --threads 1 --ids -o "$WORK/a.jsonl" 2>"$WORK/err" ||
  { cat "$WORK/err"; fail "tasks failed"; }
grep -q "18 samples -> " "$WORK/err" || { cat "$WORK/err"; fail "no summary line"; }
mpirun 1 "${tasks[@]}" --task niah_single_1,niah_multikey_2,vt --threads 2 --ids -o "$WORK/b.jsonl" 2>/dev/null
cmp -s "$WORK/a.jsonl" "$WORK/b.jsonl" || fail "output differs between 1 and 2 threads"
ls -a "$WORK" | grep -q "\.tmp-" && fail "temporary file left behind"

"$PYTHON" - "$WORK/a.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert len(lines) == 18, len(lines)
order = [(l["task"], l["target_tokens"], l["index"]) for l in lines]
assert order == [(t, n, i) for t in ("niah_single_1", "niah_multikey_2", "vt") for n in (2048, 3000) for i in range(3)], order
for l in lines:
    n = l["target_tokens"]
    assert abs(l["prompt_tokens"] - n) <= n // 100 + 1, (l["prompt_tokens"], n)
    assert l["prompt_tokens"] == len(l["context_ids"]) + len(l["query_ids"]) == l["context_tokens"] + l["query_tokens"] + 1
    assert l["context_ids"][0] == 256 and l["context_ids"][1:] == list(l["context"].encode()), "BOS + bytes"
    assert l["query_ids"] == list(l["query"].encode())
    assert all(a in l["context"] for a in l["answers"]) and l["metric"] == "all" and not l["chat_template"]
    assert l["seed"] == 11 and l["samples"] == 3 and l["answer_tokens"] == (30 if l["task"] == "vt" else 128)
depths = [l["depth"] for l in lines if l["task"] == "niah_single_1" and l["target_tokens"] == 2048]
assert depths[0] < 0.05 and 0.4 < depths[1] < 0.6 and depths[2] > 0.95, depths
print("tasks: 18 samples, fields, order, ids and depths ok")
PY

# The samples are the ones `run --task` runs with the same seed and length.
mpirun 1 run --backend cpu --model-preset tiny --tokenizer "$tok" --words "$words" --task vt \
  --seq-len 2048 --samples 3 --seed 11 --method global --task-generate 1 --repeats 1 --warmup 0 \
  -o "$WORK/run.h5" >/dev/null 2>&1 || fail "run --task failed"
"$PYTHON" - "$WORK/run.h5" "$WORK/a.jsonl" <<'PY'
import json, sys, h5py
dec = lambda v: v.decode() if isinstance(v, bytes) else v
lines = {l["index"]: l for l in map(json.loads, open(sys.argv[2])) if l["task"] == "vt" and l["target_tokens"] == 2048}
seen = 0
with h5py.File(sys.argv[1], "r") as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        if dec(a["kind"]) != "task_sample":
            continue
        l = lines[int(a["sample"])]
        assert int(a["prompt_tokens"]) == l["prompt_tokens"], (a["prompt_tokens"], l["prompt_tokens"])
        assert dec(a["answers"]) == " | ".join(l["answers"]), (dec(a["answers"]), l["answers"])
        seen += 1
assert seen == 3, seen
print("tasks: the samples and prompt lengths of run --task")
PY

# Chat template: its scaffolding counts in the prompt length.
mpirun 1 tasks --tokenizer "$tok" --words "$words" --task niah_single_2 --seq-len 2048 --chat-template \
  -o "$WORK/chat.jsonl" 2>/dev/null || fail "tasks --chat-template failed"
"$PYTHON" -c '
import json, sys
l = json.loads(open(sys.argv[1]).readline())
assert l["chat_template"] and abs(l["prompt_tokens"] - 2048) <= 21 and l["prompt_tokens"] > l["context_tokens"] + l["query_tokens"] + 1
' "$WORK/chat.jsonl" || fail "chat template sample"

# Errors: one message, non-zero exit, no output file, an existing file untouched.
expect_error() {
  local fragment=$1
  shift
  local status=0
  mpirun 1 "$@" >"$WORK/out" 2>"$WORK/err" || status=$?
  [[ $status -ne 0 && $status -ne 124 ]] || fail "exit $status for: $*"
  grep -q -- "$fragment" "$WORK/err" || { cat "$WORK/err"; fail "no '$fragment' for: $*"; }
  echo "ok: $fragment"
}
echo keep >"$WORK/keep.jsonl"
base=(tasks --tokenizer "$tok" --words "$words" --seq-len 2048)
expect_error "unknown task 'niah_single_9'" "${base[@]}" --task vt,niah_single_9 -o "$WORK/keep.jsonl"
expect_error "--seq-len 200 leaves 199 tokens" tasks --tokenizer "$tok" --task vt --seq-len 200 -o "$WORK/keep.jsonl"
expect_error "SQuAD" "${base[@]}" --task vt,qa_1 --samples 2 -o "$WORK/keep.jsonl"
expect_error "cannot read word list" tasks --tokenizer "$tok" --words "$WORK/none" --task niah_single_1 \
  --seq-len 2048 -o "$WORK/keep.jsonl"
expect_error "cannot open file" tasks --tokenizer "$WORK/none.json" --task vt --seq-len 2048 -o "$WORK/keep.jsonl"
expect_error "does not exist" "${base[@]}" --task vt -o "$WORK/missing/out.jsonl"
expect_error "--samples must be >= 1" "${base[@]}" --task vt --samples 0 -o "$WORK/keep.jsonl"
[[ $(cat "$WORK/keep.jsonl") == keep ]] || fail "a failed run changed the existing output"
ls -a "$WORK" | grep -q "\.tmp-" && fail "temporary file left behind after an error"
echo "tasks command: ok"
