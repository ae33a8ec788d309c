#!/usr/bin/env bash
# Accuracy that means something, in CI: the committed tiny retrieval model
# (tests/reference/data/tiny-retrieval) answers 20 niah_single_1 samples of 1024
# tokens on 2 ranks with global, ring and star (cpu backend). Global must be at
# least 90% (RULER score), ring must give global's answer on every sample (it is
# exact), star's accuracy and its ratio to global are printed. Seed 2: not a
# training seed (those are >= 100000). Exits 77 (ctest: skipped) only when the
# model directory is absent.
# Usage: ci_accuracy.sh STARBENCH_BIN SOURCE_DIR
set -euo pipefail
starbench=$1 source_dir=$2
model="$source_dir/tests/reference/data/tiny-retrieval"
if [[ ! -d $model ]]; then
  echo "SKIP: $model is not committed yet (made by jobs/device/train_tiny_retrieval.sh)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--oversubscribe -n 2)
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=1 STARBENCH_COLLECTIVE_TIMEOUT_S=120
# Answers are " 1234567." then EOS (about 6 tokens): 12 are plenty (RULER's budget is 128).
timeout -k 5 300 mpiexec "${flags[@]}" "$starbench" run --backend cpu --model "$model" \
  --words "$source_dir/tests/reference/data/words/words.txt" --task niah_single_1 --seq-len 1024 --samples 20 \
  --seed 2 --method global,ring,star --block-size 0 --task-generate 12 --repeats 1 --warmup 0 -o "$work/acc.h5" >"$work/out.txt"
cat "$work/out.txt"
/usr/bin/python3 - "$work/acc.h5" <<'PY'
import sys, h5py
dec = lambda v: v.decode() if isinstance(v, bytes) else v
runs = {}
with h5py.File(sys.argv[1], "r") as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        if dec(a["kind"]) == "task_sample":
            runs[(dec(a["method"]), int(a["sample"]))] = (float(a["score"]), dec(a["generated_text"]))
acc = {m: 100 * sum(runs[(m, i)][0] for i in range(20)) / 20 for m in ("global", "ring", "star")}
print(f"niah_single_1, 1024 tokens, 20 samples, 2 ranks: global {acc['global']:.0f}%, ring {acc['ring']:.0f}%, "
      f"star {acc['star']:.0f}% (star / global = {acc['star'] / max(acc['global'], 1e-9):.2f})")
differ = [i for i in range(20) if runs[("ring", i)][1] != runs[("global", i)][1]]
assert not differ, f"ring's answer differs from global's on samples {differ}"
assert acc["global"] >= 90, f"global accuracy {acc['global']:.0f}% < 90%"
print("ok: global >= 90%, ring = global on every sample")
PY
