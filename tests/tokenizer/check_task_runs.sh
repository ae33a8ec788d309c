#!/usr/bin/env bash
# Every synthetic RULER task runs end to end through `starbench run --task`
# on 2 ranks with the real tokenizer and synthetic weights (tiny shapes, the
# Llama-3 vocabulary): per-sample records and per-task summaries are stored,
# accuracies are reported (near 0 with random weights, and said so), the QA
# tasks without their data end with a clear message, a rerun adds nothing, and
# a sweep resumed after its global runs computes the others' fidelity against
# a re-run (unrecorded) global; duo and star + duo take part like every method.
# Usage: check_task_runs.sh BUILD_DIR STARBENCH_BIN
set -euo pipefail
build_dir=$1 starbench=$2
here=$(cd "$(dirname "$0")" && pwd)
tokenizer_json=$(bash "$here/install_reference.sh" "$build_dir")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--oversubscribe -n 2)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=1 STARBENCH_COLLECTIVE_TIMEOUT_S=120
tasks=niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,niah_multikey_2,niah_multikey_3,niah_multivalue,niah_multiquery,vt,cwe,fwe
common=(run --backend cpu --model-preset tiny-llama3-vocab --tokenizer "$tokenizer_json" --seq-len 768
        --samples 1 --repeats 1 --warmup 0 --task-generate 6 --method global,ring,star --block-size 0)
timeout -k 5 900 mpiexec "${flags[@]}" "$starbench" "${common[@]}" --task "$tasks" -o "$work/tasks.h5" >"$work/out.txt"
cat "$work/out.txt"
grep -q "expected to be near 0" "$work/out.txt" || { echo "FAIL: no note on synthetic-weight accuracy"; exit 1; }
/usr/bin/python3 - "$work/tasks.h5" "$tasks" <<'PY'
import sys, h5py
path, tasks = sys.argv[1], sys.argv[2].split(",")
dec = lambda v: v.decode() if isinstance(v, bytes) else v
samples, summaries = {}, {}
with h5py.File(path, "r") as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        kind, task, method = dec(a["kind"]), dec(a["task"]), dec(a["method"])
        if kind == "task_sample":
            samples.setdefault(task, set()).add(method)
            assert 0 <= a["score"] <= 1 and a["prompt_tokens"] > 0 and "generated_text" in a and "answers" in a
            assert abs(a["prompt_tokens"] - 768) <= 0.01 * 768, a["prompt_tokens"]
            assert "reference" not in f["runs"][name], "task records keep no reference logits"
        elif kind == "task_summary":
            summaries.setdefault(task, set()).add(method)
            assert "accuracy" in a
for task in tasks:
    assert samples.get(task) == {"global", "ring", "star"}, (task, samples.get(task))
    assert summaries.get(task) == {"global", "ring", "star"}, (task, summaries.get(task))
print(f"task runs: {len(tasks)} tasks x 3 methods stored with per-task summaries")
PY
status=0
timeout -k 5 120 mpiexec "${flags[@]}" "$starbench" "${common[@]}" --task qa_1 -o "$work/qa.h5" 2>"$work/qa.err" || status=$?
[[ $status -ne 0 ]] || { echo "FAIL: qa_1 without --squad succeeded"; exit 1; }
grep -qi "squad" "$work/qa.err" || { cat "$work/qa.err"; echo "FAIL: qa_1 error does not mention SQuAD"; exit 1; }
echo "qa_1 without data: $(grep -i squad "$work/qa.err" | head -1)"

# A rerun of the same study finds every run in the file and adds nothing.
count_runs() { /usr/bin/python3 -c 'import sys, h5py; print(len(h5py.File(sys.argv[1], "r")["runs"]))' "$1"; }
before=$(count_runs "$work/tasks.h5")
timeout -k 5 300 mpiexec "${flags[@]}" "$starbench" "${common[@]}" --task "$tasks" -o "$work/tasks.h5" >"$work/rerun.txt" 2>&1
after=$(count_runs "$work/tasks.h5")
[[ $before == "$after" ]] || { cat "$work/rerun.txt"; echo "FAIL: rerun added runs ($before -> $after)"; exit 1; }
echo "rerun: $after runs before and after"

# Resume after the global runs only: ring and star run, global is not stored
# again, and their fidelity is measured against a re-run global.
one=(run --backend cpu --model-preset tiny-llama3-vocab --tokenizer "$tokenizer_json" --seq-len 768 --samples 2
     --repeats 1 --warmup 0 --task-generate 6 --task niah_single_1 --block-size 0 -o "$work/resume.h5")
timeout -k 5 120 mpiexec "${flags[@]}" "$starbench" "${one[@]}" --method global >"$work/resume1.txt" 2>&1
timeout -k 5 120 mpiexec "${flags[@]}" "$starbench" "${one[@]}" --method global,ring,star >"$work/resume2.txt" 2>&1
[[ $(grep -c "global re-run (unrecorded)" "$work/resume2.txt") == 2 ]] ||
  { cat "$work/resume2.txt"; echo "FAIL: expected one reference re-run per resumed sample"; exit 1; }
/usr/bin/python3 - "$work/resume.h5" <<'PY'
import sys, math, h5py
dec = lambda v: v.decode() if isinstance(v, bytes) else v
count = {}
with h5py.File(sys.argv[1], "r") as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        key = (dec(a["kind"]), dec(a["method"]))
        count[key] = count.get(key, 0) + 1
        if key[0] == "task_sample" and key[1] != "global":
            assert math.isfinite(a["kl_vs_global"]) and a["top1_vs_global"] >= 0, name
assert count == {("task_sample", "global"): 2, ("task_sample", "ring"): 2, ("task_sample", "star"): 2,
                 ("task_summary", "global"): 1, ("task_summary", "ring"): 1, ("task_summary", "star"): 1}, count
print("resume after global: 2 samples x 3 methods, fidelity against the re-run global")
PY

# DuoAttention: duo and star + duo run after global on the same samples, with
# fidelity against global and the pattern in every sample record and summary.
timeout -k 5 300 mpiexec "${flags[@]}" "$starbench" run --backend cpu --model-preset tiny-llama3-vocab \
  --tokenizer "$tokenizer_json" --seq-len 768 --samples 2 --repeats 1 --warmup 0 --task-generate 6 \
  --task niah_single_1,vt --method duo,star,global --block-size 0 --duo-pattern random:5 --duo-sparsity 0.5 --duo-sink 8 \
  --duo-recent 64 -o "$work/duo_tasks.h5" >"$work/duo_out.txt"
grep -q "star+duo" "$work/duo_out.txt" || { cat "$work/duo_out.txt"; echo "FAIL: no star+duo summary row"; exit 1; }
/usr/bin/python3 - "$work/duo_tasks.h5" <<'PY'
import sys, h5py
dec = lambda v: v.decode() if isinstance(v, bytes) else v
order, samples, summaries = [], {}, {}
with h5py.File(sys.argv[1], "r") as f:
    for name in f["runs"]:  # in the order they ran
        a = f["runs"][name].attrs
        kind, method = dec(a["kind"]), dec(a["method"])
        if kind == "task_sample":
            key = (dec(a["task"]), int(a["sample"]))
            samples.setdefault(key, []).append(method)
            if method != "global":
                assert dec(a["duo_pattern"]) == "random:5" and a["duo_sparsity"] == 0.5, name
                assert "kl_vs_global" in a and "top1_vs_global" in a, f"{name}: no fidelity vs global"
        elif kind == "task_summary":
            summaries.setdefault(dec(a["task"]), set()).add(method)
for key, methods in samples.items():
    assert methods == ["global", "duo", "star"], (key, methods)  # global first: the reference
assert len(samples) == 4, samples
for task, methods in summaries.items():
    assert methods == {"global", "duo", "star"}, (task, methods)
print(f"duo task runs: {len(samples)} samples x (global, duo, star + duo), fidelity vs global")
PY
