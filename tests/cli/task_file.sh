#!/usr/bin/env bash
# run --task-file: a user's samples in Star Attention's and RULER's JSONL formats
# run through global, ring and star like generated tasks. The files hold the
# samples `run --task` generates (exported by `starbench tasks`), so every
# sample's answer and score must equal the generated task's, on the committed
# tiny retrieval model; ring answers as global does. A malformed line is refused
# with its line number and nothing is written; BABILong's metric is recorded.
source "$(dirname "$0")/common.sh"
model="$SOURCE_DIR/tests/reference/data/tiny-retrieval"
words="$SOURCE_DIR/tests/reference/data/words/words.txt"
common=(run --backend cpu --model "$model" --method global,ring,star --block-size C/4 --task-generate 12
        --repeats 1 --warmup 0 --seed 2)

"$STARBENCH" tasks --task niah_single_1 --seq-len 1024 --samples 3 --seed 2 --tokenizer "$model/tokenizer.json" \
  --words "$words" -o "$WORK/generated.jsonl" 2>/dev/null
"$PYTHON" - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
samples = [json.loads(line) for line in open(f"{work}/generated.jsonl")]
with open(f"{work}/star.jsonl", "w") as star, open(f"{work}/ruler.jsonl", "w") as ruler:
    for s in samples:
        star.write(json.dumps({"index": s["index"], "input_context": s["context"], "input_query": s["query"],
                               "output": s["answers"]}) + "\n")
        assert s["context"].endswith("\n") and "\n" not in s["query"]
        ruler.write(json.dumps({"index": s["index"], "input": s["context"] + s["query"], "outputs": s["answers"]}) + "\n")
PY

mpirun 2 "${common[@]}" --task niah_single_1 --seq-len 1024 --samples 3 --words "$words" -o "$WORK/generated.h5" \
  >"$WORK/generated.txt" 2>&1 || { cat "$WORK/generated.txt"; fail "generated task run"; }
for format in star ruler; do
  mpirun 2 "${common[@]}" --task-file "$WORK/$format.jsonl" -o "$WORK/$format.h5" >"$WORK/$format.txt" 2>&1 ||
    { cat "$WORK/$format.txt"; fail "--task-file in $format format"; }
  grep -q "file:$format" "$WORK/$format.txt" || fail "$format: the summary table names no file:$format task"
done

"$PYTHON" - "$WORK" <<'PY'
import sys, h5py
work = sys.argv[1]
dec = lambda v: v.decode() if isinstance(v, bytes) else v
def samples(path):
    out, summaries = {}, {}
    with h5py.File(path, "r") as f:
        for name in f["runs"]:
            a = f["runs"][name].attrs
            if dec(a["kind"]) == "task_sample":
                out[(dec(a["label"]), int(a["sample"]))] = (float(a["score"]), dec(a["generated_text"]), dec(a["metric"]),
                                                             dec(a["task"]), dec(a.get("task_file_digest", "")))
            elif dec(a["kind"]) == "task_summary":
                summaries[dec(a["label"])] = (float(a["accuracy"]), int(a["samples"]), int(a["seq_len"]))
    return out, summaries
generated, generated_summary = samples(f"{work}/generated.h5")
assert len(generated) == 9, generated.keys()
for fmt in ("star", "ruler"):
    runs, summary = samples(f"{work}/{fmt}.h5")
    assert set(runs) == set(generated), (fmt, sorted(runs), sorted(generated))
    for key, (score, text, metric, task, digest) in runs.items():
        assert (score, text) == generated[key][:2], (fmt, key, (score, text), generated[key][:2])
        assert metric == "all" and task == f"file:{fmt}" and len(digest) == 64, (fmt, key, metric, task, digest)
    for label, (accuracy, count, seq_len) in summary.items():
        assert count == 3 and accuracy == generated_summary[label][0], (fmt, label, summary[label])
        assert 1000 <= seq_len <= 1035, (fmt, label, seq_len)  # the longest prompt (within 1 % of 1024)
    for i in range(3):
        assert runs[("ring", i)][1] == runs[("global", i)][1], (fmt, i)
print("ok: both formats score every sample as the generated task; ring answers as global")
PY

# A rerun resumes every sample; a changed file (one answer) is a new input.
mpirun 2 "${common[@]}" --task-file "$WORK/star.jsonl" -o "$WORK/star.h5" >"$WORK/rerun.txt" 2>&1 ||
  { cat "$WORK/rerun.txt"; fail "rerun"; }
grep -q "\[9/9\]" "$WORK/rerun.txt" && fail "the rerun ran samples again: $(cat "$WORK/rerun.txt")"
sed -i '1s/"output": \["[0-9]*"\]/"output": ["0"]/' "$WORK/star.jsonl"
mpirun 2 "${common[@]}" --task-file "$WORK/star.jsonl" -o "$WORK/star.h5" >"$WORK/changed.txt" 2>&1 ||
  { cat "$WORK/changed.txt"; fail "changed file"; }
grep -q "\[9/9\]" "$WORK/changed.txt" || fail "a changed task file resumed stored samples: $(cat "$WORK/changed.txt")"

# A malformed line: refused with the file and line, nothing written.
{ head -n 2 "$WORK/ruler.jsonl"; echo '{"input": "no outputs here\nq?"}'; } >"$WORK/bad.jsonl"
if mpirun 2 "${common[@]}" --task-file "$WORK/bad.jsonl" -o "$WORK/bad.h5" >"$WORK/bad.txt" 2>&1; then
  fail "a malformed task file was accepted"
fi
grep -q "bad.jsonl:3: no 'outputs' field" "$WORK/bad.txt" || fail "no line number in: $(cat "$WORK/bad.txt")"
[[ ! -e $WORK/bad.h5 ]] || fail "a refused task file left $WORK/bad.h5 behind"
if mpirun 1 "${common[@]}" --task-file "$WORK/star.jsonl" --task-metric babilong:qa9 -o "$WORK/x.h5" \
  >"$WORK/metric.txt" 2>&1; then fail "an unknown --task-metric was accepted"; fi
grep -q "babilong:qa1 .. babilong:qa5" "$WORK/metric.txt" || fail "metric message: $(cat "$WORK/metric.txt")"

# BABILong's answer match, recorded per sample.
printf '%s\n' '{"input_context": "Mary went to the kitchen.\n", "input_query": "Where is Mary? Answer:", "output": "kitchen"}' \
  >"$WORK/babilong_qa1.jsonl"
mpirun 1 run --backend cpu --model "$model" --method global --task-generate 4 --repeats 1 --warmup 0 \
  --task-file "$WORK/babilong_qa1.jsonl" --task-metric babilong:qa1 -o "$WORK/babi.h5" >"$WORK/babi.txt" 2>&1 ||
  { cat "$WORK/babi.txt"; fail "babilong task file"; }
"$PYTHON" - "$WORK/babi.h5" <<'PY'
import sys, h5py
dec = lambda v: v.decode() if isinstance(v, bytes) else v
with h5py.File(sys.argv[1], "r") as f:
    kinds = {dec(f["runs"][n].attrs["kind"]): dict(f["runs"][n].attrs) for n in f["runs"]}
a = kinds["task_sample"]
assert dec(a["metric"]) == "babilong:qa1" and float(a["score"]) in (0.0, 1.0), a
assert dec(kinds["task_summary"]["metric"]) == "babilong:qa1"
print("ok: babilong metric recorded")
PY
echo "task_file: ok"
