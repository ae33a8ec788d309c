#!/usr/bin/env bash
# Task summaries (issue 20, item 14) record what their runs record: star's block rule
# (`block_rule`) and its block at the summary's length (not 0), the anchor settings and
# ring layout; their key ends with the hardware part every key ends with
# (;device=...;node_layout=...) and they carry `device` and the placement; they hold their
# samples' mean fidelity to global (kl/top1/gen_agree/hidden_rel_err_vs_global,
# fidelity_samples), so the report's fidelity table and panel show task runs, generated
# (`run --task`) or a user's file (`run --task-file`). A summary's identity digests its
# samples' identities: samples measured anew (another word list under the same name) give
# a new summary, a rerun of the same samples none.
source "$(dirname "$0")/common.sh"
model="$SOURCE_DIR/tests/reference/data/tiny-retrieval"
words="$SOURCE_DIR/tests/reference/data/words/words.txt"
common=(run --backend cpu --model "$model" --method global,ring,star --ring-layout contiguous
        --block-size C/8,48,C/2 --anchor-size -1 --task-generate 8 --repeats 1 --warmup 0 --seed 5)
mkdir -p "$WORK/wa" "$WORK/wb"
cp "$words" "$WORK/wa/words.txt"
head -n 3000 "$words" >"$WORK/wb/words.txt"
generated=("${common[@]}" --task niah_single_2 --seq-len 384 --samples 2 -o "$WORK/gen.h5")

mpirun 2 "${generated[@]}" --words "$WORK/wa/words.txt" >"$WORK/gen.txt" 2>&1 ||
  { cat "$WORK/gen.txt"; fail "the task sweep failed"; }
"$STARBENCH" tasks --task niah_single_2 --seq-len 384 --samples 2 --seed 5 --tokenizer "$model/tokenizer.json" \
  --words "$WORK/wa/words.txt" -o "$WORK/generated.jsonl" 2>/dev/null
"$PYTHON" - "$WORK" <<'PY'  # in Star Attention's format, as a user's file
import json, sys
with open(f"{sys.argv[1]}/mine.jsonl", "w") as out:
    for line in open(f"{sys.argv[1]}/generated.jsonl"):
        s = json.loads(line)
        out.write(json.dumps({"index": s["index"], "input_context": s["context"], "input_query": s["query"],
                              "output": s["answers"]}) + "\n")
PY
mpirun 2 "${common[@]}" --task-file "$WORK/mine.jsonl" -o "$WORK/file.h5" >"$WORK/file.txt" 2>&1 ||
  { cat "$WORK/file.txt"; fail "the --task-file sweep failed"; }

# check FILE TASK SEQ_LEN: the summaries of one sample group.
check() {
  "$PYTHON" - "$@" <<'PY'
import math, sys, h5py
path, task, seq_len = sys.argv[1], sys.argv[2], sys.argv[3]
text = lambda v: v.decode() if isinstance(v, bytes) else v
with h5py.File(path, "r") as f:
    runs = [dict(f["runs"][n].attrs) for n in f["runs"]]
samples = [a for a in runs if text(a["kind"]) == "task_sample"]
summaries = {text(a["label"]): a for a in runs if text(a["kind"]) == "task_summary"}
assert sorted(summaries) == ["global", "ring(contiguous)", "star(b=48,a=-1)", "star(b=C/2,a=-1)",
                             "star(b=C/8,a=-1)"], sorted(summaries)
length = int(summaries["global"]["seq_len"])
assert length == int(seq_len) if seq_len != "longest" else length == max(int(a["prompt_tokens"]) for a in samples)
expected = {"star(b=C/8,a=-1)": ("C/8", -(-length // 8)), "star(b=48,a=-1)": ("fixed", 48),
            "star(b=C/2,a=-1)": ("C/2", -(-length // 2))}
for label, a in summaries.items():
    key, ranks = text(a["params_key"]), 1 if label == "global" else 2
    assert text(a["task"]) == task, (label, text(a["task"]))
    # The hardware part, as every run's key ends (and the attributes it is made of).
    assert key.endswith(f";device={text(a['device'])};node_layout=1x{ranks}"), (label, key)
    assert text(a["node_layout"]) == f"1x{ranks}" and int(a["world_size"]) == ranks, (label, a)
    assert len(text(a["identity"])) == 64, label
    if label in expected:
        rule, block = expected[label]
        assert (text(a["block_rule"]), int(a["block_size"]), int(a["anchor_size"])) == (rule, block, block), \
            (label, text(a.get("block_rule", "")), int(a["block_size"]), int(a["anchor_size"]))
        assert text(a["anchor_mode"]) == "sent" and text(a["anchor_source"]) == "first", label
    if label == "ring(contiguous)":
        assert text(a["ring_layout"]) == "contiguous", label
    # Fidelity: the mean over the samples that were compared with global.
    mine = [s for s in samples if text(s["label"]) == label]
    assert len(mine) == 2, (label, len(mine))
    if label == "global":
        assert "top1_vs_global" not in a, label
        continue
    assert int(a["fidelity_samples"]) == 2, label
    for name in ("kl_vs_global", "top1_vs_global", "gen_agree_vs_global", "hidden_rel_err_vs_global"):
        mean = sum(float(s[name]) for s in mine) / len(mine)
        assert math.isclose(float(a[name]), mean, rel_tol=1e-12, abs_tol=1e-300), (label, name, float(a[name]), mean)
print(f"ok: {path}: {task} summaries carry their block rule, hardware key and fidelity")
PY
}
check "$WORK/gen.h5" niah_single_2 384
check "$WORK/file.h5" file:mine longest

# The report: task runs' fidelity in its table and the accuracy figure's fidelity panel.
for name in gen file; do
  PYTHONPATH="$SOURCE_DIR" "$PYTHON" -m analysis report "$WORK/$name.h5" --out "$WORK/report_$name" >"$WORK/report_$name.log" 2>&1 ||
    { cat "$WORK/report_$name.log"; fail "report of $name.h5"; }
  "$PYTHON" - "$WORK/$name.h5" <<PY || fail "the report of $name.h5 has no task fidelity"
import sys
sys.path.insert(0, "$SOURCE_DIR")
from analysis import tables
from analysis.results import load_runs
fidelity = tables.fidelity(load_runs(sys.argv[1]))
task = "niah_single_2" if "$name" == "gen" else "file:mine"
rows = fidelity[fidelity.task == task]
assert sorted(rows.label) == ["ring(contiguous)", "star(b=48,a=-1)", "star(b=C/2,a=-1)", "star(b=C/8,a=-1)"], fidelity
assert set(rows[rows.method == "star"].block_rule) == {"C/8", "fixed", "C/2"}, rows
PY
  grep -A8 "^Fidelity of the same" "$WORK/report_$name/report.md" | grep -q "star(b=C/8,a=-1)" ||
    { cat "$WORK/report_$name/report.md"; fail "report.md of $name.h5: no task fidelity row"; }
  [[ -s $WORK/report_$name/accuracy_vs_global.png ]] || fail "report of $name.h5: no accuracy figure"
done
echo "ok: the report shows task runs' fidelity"

# Identity: a rerun of the same samples adds no summary; another word list (same file name)
# gives other samples and so new summaries.
count() { "$PYTHON" -c "import h5py,sys; f=h5py.File(sys.argv[1]); print(sum(f['runs'][n].attrs['kind'] in (b'task_summary','task_summary') for n in f['runs']))" "$1"; }
mpirun 2 "${generated[@]}" --words "$WORK/wa/words.txt" >"$WORK/again.txt" 2>&1 || { cat "$WORK/again.txt"; fail "rerun"; }
[[ $(count "$WORK/gen.h5") == 5 ]] || fail "a rerun of the same samples added summaries ($(count "$WORK/gen.h5"))"
cp "$WORK/wb/words.txt" "$WORK/wa/words.txt"
mpirun 2 "${generated[@]}" --words "$WORK/wa/words.txt" >"$WORK/other.txt" 2>&1 || { cat "$WORK/other.txt"; fail "other words"; }
[[ $(count "$WORK/gen.h5") == 10 ]] || fail "samples of another word list left the old summaries standing ($(count "$WORK/gen.h5"))"
echo "task summaries: every case passed"
