#!/usr/bin/env bash
# `starbench calibrate` and `starbench simulate` on the cpu backend: the
# simulator's invariants (the issue's acceptance list) on a profile measured
# here, on the tiny model.
source "$(dirname "$0")/common.sh"
if ! "$STARBENCH" simulate --help >/dev/null 2>&1 || "$STARBENCH" simulate --help 2>&1 | grep -q "without SimGrid"; then
  echo "SKIP: this starbench was built without SimGrid (libsimgrid-dev)"
  exit 0
fi
platform="$SOURCE_DIR/configs/platforms/dgx-h200.xml"
profile="$WORK/cpu.json"

# 0. A quick calibration on 2 ranks (compute + MPI transfers) writes a profile the simulator reads.
mpirun 2 calibrate --backend cpu --quick --model-preset tiny -o "$profile" >"$WORK/calibrate.log" 2>&1 ||
  { cat "$WORK/calibrate.log"; fail "calibrate failed"; }
grep -q '"format": "starbench-hardware-profile"' "$profile" || fail "no profile written"

sim() {  # sim RANKS OUT [flags...]: the tiny model, simulated on the DGX H200 platform
  local ranks=$1 out=$2
  shift 2
  timeout -k 5 120 "$STARBENCH" simulate --ranks "$ranks" --platform "${PLATFORM:-$platform}" --hardware "$profile" \
    --model-preset tiny --query-len 8 --generate 3 --repeats 1 --warmup 0 -o "$out" "$@"
}
attr() {  # attr FILE METHOD [LAYOUT|MODE] KEY: an attribute of the one matching run
  "$PYTHON" - "$@" <<'PY'
import sys, h5py
path, method, variant, key = sys.argv[1:5]
def text(v):
    return v.decode() if isinstance(v, bytes) else v
with h5py.File(path, "r") as f:
    found = []
    for name in f["runs"]:
        a = f["runs"][name].attrs
        if text(a["method"]) != method:
            continue
        if variant and variant not in (text(a.get("ring_layout", "")), text(a.get("anchor_mode", ""))):
            continue
        found.append(a[key])
    assert len(found) == 1, (method, variant, key, len(found))
    print(text(found[0]))
PY
}

# 1. Simulated ring on one rank equals simulated global: the contiguous layout on one rank issues
#    global's calls (one causal chunk, nothing sent). The zigzag layout cuts even one rank's context
#    into two chunks (three attention calls and a merge, the same FLOPs), as the real one does on one
#    GPU: its time is printed, not compared.
sim 1 "$WORK/one.h5" --method global,ring --seq-len 512 --ring-layout contiguous,zigzag >"$WORK/one.log" 2>&1 ||
  { cat "$WORK/one.log"; fail "one-rank simulation failed"; }
global=$(attr "$WORK/one.h5" global "" context_ms)
contiguous=$(attr "$WORK/one.h5" ring contiguous context_ms)
zigzag=$(attr "$WORK/one.h5" ring zigzag context_ms)
"$PYTHON" -c "
g, c, z = $global, $contiguous, $zigzag
assert abs(c - g) <= 1e-9 * g, f'contiguous ring on one rank {c} ms != global {g} ms'  # equal to the clock's rounding
print(f'one rank: global {g:.3f} ms = contiguous ring {c:.3f} ms; zigzag ring {z:.3f} ms')"
[[ $(attr "$WORK/one.h5" ring contiguous simulated) == 1 ]] || fail "simulated runs are not marked simulated = 1"
[[ $(attr "$WORK/one.h5" ring contiguous platform) == dgx-h200.xml ]] || fail "the platform is not recorded"

# 2. Star's phase 1 moves no bytes, except the anchor's K and V when it is sent: rank 0 sends
#    A rows of K and V per layer to each other rank (tiny: 2 layers, 2 KV heads x 32, bf16).
sim 4 "$WORK/star.h5" --method star --seq-len 512 --block-size 64 --anchor-mode recompute,once,sent \
  >"$WORK/star.log" 2>&1 || { cat "$WORK/star.log"; fail "star simulation failed"; }
for mode in recompute once; do
  bytes=$(attr "$WORK/star.h5" star $mode comm_bytes_context)
  [[ $bytes == 0.0 || $bytes == 0 ]] || fail "star ($mode) moved $bytes bytes in phase 1"
done
bytes=$(attr "$WORK/star.h5" star sent comm_bytes_context)
"$PYTHON" -c "
expected = 2 * 2 * 64 * 2 * 32 * 2 * 3  # layers x (K, V) x anchor rows x kv heads x head dim x bf16 x receivers
assert float('$bytes') == expected, f'sent anchor moved $bytes bytes, expected {expected}'
print(f'star phase 1: recompute and once move nothing, sent moves {expected} bytes')"

# 3. Doubling every link's bandwidth never makes a run slower.
"$PYTHON" - "$platform" "$WORK/fast.xml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
doubled = re.sub(r'((?:bw|bb_bw|bandwidth)=")([0-9.]+)GBps"', lambda m: f'{m.group(1)}{2 * float(m.group(2)):g}GBps"', text)
assert doubled != text
open(sys.argv[2], "w").write(doubled)
PY
grid=(--method ring,star --seq-len 256,1024 --ring-layout zigzag,contiguous --block-size 0,64 --anchor-mode once,sent)
sim 16 "$WORK/slow.h5" "${grid[@]}" >"$WORK/slow.log" 2>&1 || { cat "$WORK/slow.log"; fail "simulation failed"; }
PLATFORM="$WORK/fast.xml" sim 16 "$WORK/fast.h5" "${grid[@]}" >"$WORK/fast.log" 2>&1 ||
  { cat "$WORK/fast.log"; fail "simulation on the faster platform failed"; }
"$PYTHON" - "$WORK/slow.h5" "$WORK/fast.h5" <<'PY'
import sys, h5py
def runs(path):
    out = {}
    with h5py.File(path, "r") as f:
        for name in f["runs"]:
            a = f["runs"][name].attrs
            key = tuple(str(a.get(k, "")) for k in ("method", "seq_len", "ring_layout", "block_size", "anchor_mode"))
            out[key] = (a["context_ms"], a["total_ms"])
    return out
slow, fast = runs(sys.argv[1]), runs(sys.argv[2])
assert slow.keys() == fast.keys() and len(slow) >= 8, (len(slow), len(fast))
for key in slow:
    for s, f, what in zip(slow[key], fast[key], ("context", "end-to-end")):
        assert f <= s * (1 + 1e-6), f"{key}: {what} {f} ms with doubled bandwidth > {s} ms"  # to the clock's rounding
print(f"doubled bandwidth: none of {len(slow)} runs slower")
PY

# 4. A platform or a profile with an error is refused with a message naming the file and the field.
expect_refusal() {  # expect_refusal WHAT PATTERN command...
  local what=$1 pattern=$2
  shift 2
  set +e
  output=$("$@" 2>&1)
  status=$?
  set -e
  [[ $status -ne 0 ]] || fail "$what: accepted"
  grep -q -- "$pattern" <<<"$output" || fail "$what: message does not name it: $output"
}
sed 's/bandwidth="50GBps"/bandwidth="50GBpz"/' "$platform" >"$WORK/bad_unit.xml"
PLATFORM="$WORK/bad_unit.xml" expect_refusal "bad bandwidth unit" "bad_unit.xml.*GBpz" sim 2 "$WORK/x.h5"
"$PYTHON" - "$profile" "$WORK" <<'PY'
import json, sys
profile, work = json.load(open(sys.argv[1])), sys.argv[2]
bad = dict(profile); del bad["memory_bytes"]; json.dump(bad, open(f"{work}/no_memory.json", "w"))
bad = json.loads(json.dumps(profile)); bad["gemm"][1]["tokens_ms"][0][1] = -1.0; json.dump(bad, open(f"{work}/neg_gemm.json", "w"))
bad = json.loads(json.dumps(profile)); bad["comm"]["overlap_slowdown"] = "fast"; json.dump(bad, open(f"{work}/bad_comm.json", "w"))
PY
profile="$WORK/no_memory.json" expect_refusal "missing field" "no_memory.json: field 'memory_bytes' is missing" sim 2 "$WORK/x.h5"
profile="$WORK/neg_gemm.json" expect_refusal "negative time" "neg_gemm.json: field 'gemm\[1\].tokens_ms\[0\]'" sim 2 "$WORK/x.h5"
profile="$WORK/bad_comm.json" expect_refusal "wrong type" "bad_comm.json: field 'comm.overlap_slowdown' must be a number" sim 2 "$WORK/x.h5"
expect_refusal "too few hosts" "needs 40 node(s)" sim 320 "$WORK/x.h5"
[[ ! -e "$WORK/x.h5" ]] || fail "a refused simulation left a results file behind"
echo "refusals: bad platform unit, missing/negative/mistyped profile fields, too few hosts"

# 5. A simulated sweep resumes like run: a rerun adds nothing.
sim 4 "$WORK/resume.h5" --method global,ring,star --seq-len 256,512 >"$WORK/first.log" 2>&1 || fail "sweep failed"
sim 4 "$WORK/resume.h5" --method global,ring,star --seq-len 256,512 >"$WORK/second.log" 2>&1 || fail "rerun failed"
grep -q "6 run(s) already there were skipped" "$WORK/second.log" || { cat "$WORK/second.log"; fail "rerun did not resume"; }
echo "resume: the rerun skipped all 6 runs"

# 6. Measured and simulated twins pair up in `python3 -m analysis validate` (the table of docs/SIMULATOR.md).
mpirun 2 run --backend cpu --model-preset tiny --method ring,star --seq-len 512 --query-len 8 --generate 3 \
  --repeats 1 --warmup 0 -o "$WORK/pair.h5" >"$WORK/pair_measured.log" 2>&1 || fail "measured run failed"
sim 2 "$WORK/pair.h5" --method ring,star --seq-len 512 >"$WORK/pair_sim.log" 2>&1 || fail "simulated twin failed"
PYTHONPATH="$SOURCE_DIR" "$PYTHON" -m analysis validate "$WORK/pair.h5" >"$WORK/validate.md" || fail "validate failed"
grep -q "^2 rows. Context phase" "$WORK/validate.md" || { cat "$WORK/validate.md"; fail "no measured/simulated pairs"; }
echo "validate: $(tail -1 "$WORK/validate.md")"
