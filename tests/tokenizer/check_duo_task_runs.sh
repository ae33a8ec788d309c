#!/usr/bin/env bash
# DuoAttention in accuracy runs: `starbench run --task` with duo and star + duo
# runs them after global on the same samples, with fidelity against global and
# the pattern in every sample record and summary (tiny shapes, Llama-3
# vocabulary, synthetic weights; the real tokenizer).
# Usage: check_duo_task_runs.sh BUILD_DIR STARBENCH_BIN
set -euo pipefail
build_dir=$1 starbench=$2
here=$(cd "$(dirname "$0")" && pwd)
tokenizer_json=$(bash "$here/install_reference.sh" "$build_dir")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--oversubscribe -n 2)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=1 STARBENCH_COLLECTIVE_TIMEOUT_S=120
timeout -k 5 300 mpiexec "${flags[@]}" "$starbench" run --backend cpu --model-preset tiny-llama3-vocab \
  --tokenizer "$tokenizer_json" --seq-len 768 --samples 2 --repeats 1 --warmup 0 --task-generate 6 \
  --task niah_single_1,vt --method duo,star,global --duo-pattern random:5 --duo-sparsity 0.5 --duo-sink 8 \
  --duo-recent 64 -o "$work/tasks.h5" >"$work/out.txt"
grep -q "star+duo" "$work/out.txt" || { cat "$work/out.txt"; echo "FAIL: no star+duo summary row"; exit 1; }
/usr/bin/python3 - "$work/tasks.h5" <<'PY'
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
