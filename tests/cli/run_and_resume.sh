#!/usr/bin/env bash
# `starbench run` writes a complete results file; a sweep killed mid-way and
# rerun loses no run and duplicates none.
source "$(dirname "$0")/common.sh"
out="$WORK/results.h5"
# Enough repeats that the sweep takes seconds, so the kill lands mid-way.
sweep=(run --backend cpu --method global,ring,star --seq-len 256,384,512,640 --block-size 0,64 --anchor-size -1,0
       --query-len 4 --generate 3 --repeats 10 --warmup 0 -o "$out")

# 1. A full sweep on 2 ranks prints a table and stores every run, with the
# hardware and the (here pretended) Slurm job it ran in.
timeout -k 5 120 mpiexec "${MPI_FLAGS[@]}" -n 2 env SLURM_JOB_ID=4242 SLURM_JOB_NAME=cli-test "$STARBENCH" \
  run --backend cpu --seq-len 64,128 --query-len 4 --generate 2 --repeats 2 --warmup 1 -o "$WORK/full.h5" \
  >"$WORK/table.txt"
grep -q "context_ms" "$WORK/table.txt" || fail "no table printed"
"$PYTHON" - "$WORK/full.h5" "$(hostname)" <<'PY'
import sys, h5py, pandas as pd, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    index = pd.DataFrame(f["index"][()])
    runs = list(f["runs"].keys())
    assert len(runs) == 6, runs  # 2 lengths x (global, ring, star)
    for name in runs:
        g = f["runs"][name]
        for key in ["method", "backend", "model", "version", "params_key"]:
            assert key in g.attrs, (name, key)
        world = int(g.attrs["world_size"])
        assert g["timing/context_ms"].shape == (2, world), g["timing/context_ms"].shape
        assert (g["timing/context_ms"][()] > 0).all()
        method = g.attrs["method"]
        method = method.decode() if isinstance(method, bytes) else method
        assert world == (1 if method == "global" else 2)
        assert g.attrs["hosts"] == sys.argv[2], g.attrs["hosts"]
        assert g.attrs["node_layout"] == f"1x{world}" and g.attrs["ranks_per_node"] == world
        assert g.attrs["slurm_job_id"] == 4242 and g.attrs["slurm_job_name"] == "cli-test"
        assert g.attrs["params_key"].endswith(f";node_layout=1x{world}"), g.attrs["params_key"]
        if method == "ring":
            assert g.attrs["kl_vs_global"] < 1e-6 and g.attrs["top1_vs_global"] == 1.0
        if method == "star":  # the default block: the paper's C/4, recorded as the rule
            rule = g.attrs["block_rule"]
            assert (rule.decode() if isinstance(rule, bytes) else rule) == "C/4", rule
            assert g.attrs["block_size"] == g.attrs["seq_len"] // 4, (g.attrs["block_size"], g.attrs["seq_len"])
assert len(index) == 6
print("run: 6 complete runs, index of 6 rows; star's default block C/4")
PY

# 2. Kill a longer sweep once it has stored a few runs, then rerun it.
expected=$("$PYTHON" -c "print(4 * (1 + 1 + 2 * 2))")  # lengths x (global + ring + star blocks x anchors)
mpiexec "${MPI_FLAGS[@]}" -n 2 "$STARBENCH" "${sweep[@]}" >"$WORK/first.log" 2>&1 &
sweep_pid=$!
for _ in $(seq 1 600); do
  sleep 0.2
  stored=$("$PYTHON" -c "
import h5py, sys
try:
    print(len(h5py.File('$out', 'r')['runs']))
except Exception:
    print(0)")
  [[ $stored -ge 4 ]] && break
  kill -0 $sweep_pid 2>/dev/null || break
done
kill -9 $sweep_pid 2>/dev/null || true
pkill -9 -f "$STARBENCH run" 2>/dev/null || true
wait $sweep_pid 2>/dev/null || true
before=$("$PYTHON" -c "import h5py; print(len(h5py.File('$out','r')['runs']))")
[[ $before -lt $expected ]] || fail "the sweep finished before it was killed ($before runs); the test proves nothing"
echo "killed after $before of $expected runs"
mpirun 2 "${sweep[@]}" >"$WORK/second.log" 2>&1 || { cat "$WORK/second.log"; fail "rerun failed"; }
grep -q "skipped" "$WORK/second.log" || fail "rerun skipped nothing"
"$PYTHON" - "$out" "$expected" <<'PY'
import sys, h5py, collections
path, expected = sys.argv[1], int(sys.argv[2])
with h5py.File(path, "r") as f:
    keys = [f["runs"][r].attrs["params_key"] for r in f["runs"]]
    keys = [k.decode() if isinstance(k, bytes) else k for k in keys]
    dupes = [k for k, n in collections.Counter(keys).items() if n > 1]
    assert not dupes, f"duplicated runs: {dupes}"
    assert len(keys) == expected, f"{len(keys)} runs, expected {expected}"
    assert len(f["index"]) == expected
print(f"resume: {expected} runs, none lost, none duplicated")
PY

# 3. Ring layouts and star anchor modes are runs of their own, recorded as such.
mpirun 2 run --backend cpu --method global,ring,star --seq-len 96 --ring-layout zigzag,contiguous \
  --block-size C/4,16 --anchor-mode recompute,sent --query-len 4 --generate 2 --repeats 1 --warmup 0 \
  -o "$WORK/layouts.h5" >"$WORK/layouts.txt"
grep -q "ring(contiguous)" "$WORK/layouts.txt" || fail "the table does not name the ring layout"
grep -q "vs_contig" "$WORK/layouts.txt" || fail "the table has no speedup over the contiguous ring"
"$PYTHON" - "$WORK/layouts.h5" <<'PY'
import sys, h5py
def text(value):
    return value.decode() if isinstance(value, bytes) else value
seen = set()
with h5py.File(sys.argv[1], "r") as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        method = text(a["method"])
        if method == "ring":
            seen.add(("ring", text(a["ring_layout"])))
            assert a["kl_vs_global"] < 1e-6, (text(a["ring_layout"]), a["kl_vs_global"])
        elif method == "star":
            seen.add(("star", text(a["anchor_mode"]), text(a["block_rule"]), int(a["block_size"])))
            assert "anchor_mode=" in text(a["params_key"])
expected = {("ring", "zigzag"), ("ring", "contiguous"), ("star", "recompute", "C/4", 24), ("star", "sent", "C/4", 24),
            ("star", "recompute", "fixed", 16), ("star", "sent", "fixed", 16)}
assert seen == expected, seen
print("layouts: 2 ring layouts and 4 star settings recorded with their layout, mode and block rule")
PY
