#!/usr/bin/env bash
# Decoding at the memory-bandwidth floor (issue 22), one H200, in one device call:
# build, the CUDA tests, the device-to-device copy bandwidth (torch), the per-op
# profile of a decoding step (bench_decode: legacy vs decode path), then
# `starbench run` of global and duo (Llama-3-8B shape: preset
# llama3-8b-gradient-1048k, synthetic bf16 weights; duo --duo-pattern random:1
# at sparsity 0.5 with the Llama-3.1 pattern's sink/recent) with the decode
# path (STARBENCH_DECODE=graph) and today's (legacy), same call, at SEQS.
# Prints the table of docs/PERFORMANCE.md last; logs and results under $OUT.
#
# Env: BUILD=build-gpu  SEQS=32768,131072,262144  GENERATE=65 (64 timed steps; the first
#      captures the graph)  DEADLINE_S=540  TESTS=1 (0 skips test_cuda)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/decode-out}
SEQS=${SEQS:-32768,131072,262144}
GENERATE=${GENERATE:-65}
DEADLINE_S=${DEADLINE_S:-540}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
begin=$(date +%s)
left() { echo $(( DEADLINE_S - ($(date +%s) - begin) )); }
summary="$OUT/decode_summary.md"
: >"$summary"
say() { echo "[$(( $(date +%s) - begin )) s] $*" | tee -a "$summary"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader | tee -a "$summary"
cat COMMIT 2>/dev/null | tee -a "$summary"

cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DSTARBENCH_TESTS=ON -DSTARBENCH_SIMGRID=OFF >"$OUT/build.log" 2>&1 &&
  cmake --build "$BUILD" -j"$(nproc)" --target starbench test_cuda bench_decode >>"$OUT/build.log" 2>&1 ||
  { say "build FAILED"; grep -E "error" -A3 "$OUT/build.log" | head -40; exit 1; }
say "build ok"
if [[ ${TESTS:-1} == 1 ]]; then
  timeout 200 "$BUILD/tests/gpu/test_cuda" >"$OUT/test_cuda.log" 2>&1
  say "test_cuda: exit $? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/test_cuda.log" | tr '\n' ' ')"
  grep -E "^\[  FAILED|Failure|error" -A4 "$OUT/test_cuda.log" | head -40
fi
python3 - <<'PY' 2>&1 | tee -a "$summary"
import torch
a = torch.empty(8 << 30, dtype=torch.uint8, device="cuda"); b = torch.empty_like(a)
a.random_(); b.copy_(a); torch.cuda.synchronize()
s, e = torch.cuda.Event(True), torch.cuda.Event(True); times = []
for _ in range(10):
    s.record(); b.copy_(a); e.record(); torch.cuda.synchronize(); times.append(s.elapsed_time(e))
times.sort(); ms = times[5]
print(f"copy bandwidth: {2 * a.numel() / ms / 1e9:.2f} TB/s (8 GiB device-to-device, read + write, median of 10)")
PY
timeout 120 "$BUILD/tests/gpu/bench_decode" "$SEQS" 2>&1 | tee "$OUT/bench_decode.md"

sb="$BUILD/starbench"
read -r sink recent < <(python3 -c "
import json; c = json.load(open('configs/duo/Meta-Llama-3.1-8B-Instruct/config.json'))
print(c['sink_size'], c['recent_size'])")
run_path() {  # run_path PATH LENGTH
  local path=$1 length=$2 limit
  limit=$(( $(left) - 15 ))
  (( limit > 20 )) || { say "no time left for $path $length"; return; }
  STARBENCH_DECODE=$path timeout -k 5 "$limit" mpiexec --allow-run-as-root -n 1 "$sb" run --backend cuda \
    --model-preset llama3-8b-gradient-1048k --method global,duo --duo-pattern random:1 --duo-sparsity 0.5 \
    --duo-sink "$sink" --duo-recent "$recent" --seq-len "$length" --query-len 64 --generate "$GENERATE" \
    --repeats 1 --warmup 0 -o "$OUT/decode_${path}.h5" >>"$OUT/run_${path}.log" 2>&1 ||
    say "$path $length: exit $? (see run_${path}.log)"
  say "$path $length done"
}
IFS=, read -ra lengths <<<"$SEQS"
for length in "${lengths[@]}"; do
  run_path graph "$length"
  run_path legacy "$length"
done
# The decode kernels without graphs (what the graph adds), at the shortest length.
[[ -n ${EAGER_SEQS:-} ]] && run_path eager "$EAGER_SEQS"

python3 - "$OUT" <<'PY' | tee -a "$summary"
import sys, h5py, re
out = sys.argv[1]
copy = 4.31e12
try:
    for line in open(f"{out}/decode_summary.md"):
        m = re.search(r"copy bandwidth: ([0-9.]+) TB/s", line)
        if m: copy = float(m.group(1)) * 1e12
except OSError:
    pass
WEIGHTS = 2 * 8.03e9  # bf16 parameters of the 8B shape (the issue's floor counts all of them)
rows = {}
for path in ("graph", "legacy", "eager"):
    try:
        with h5py.File(f"{out}/decode_{path}.h5", "r") as f:
            for name in f["runs"]:
                a = f["runs"][name].attrs
                m = a["method"].decode() if isinstance(a["method"], bytes) else a["method"]
                gen = f["runs"][name]["generated"][()] if "generated" in f["runs"][name] else None
                rows[(int(a["seq_len"]), m, path)] = (float(a["decode_ms_per_token"]), float(a["kv_cache_bytes"]), gen)
    except OSError as e:
        print(f"(no {path} results: {e})")
print(f"\nfloor = (weights {WEIGHTS / 1e9:.2f} GB + KV bytes) / {copy / 1e12:.2f} TB/s (copy bandwidth measured above)\n")
print("| context | method | KV GB | floor ms | legacy ms/token | decode path ms/token | ratio to floor | speedup vs legacy | duo vs global | same tokens |")
print("|---|---|---|---|---|---|---|---|---|---|")
for seq in sorted({s for s, _, _ in rows}):
    for method in ("global", "duo"):
        g, l = rows.get((seq, method, "graph")), rows.get((seq, method, "legacy"))
        if not g: continue
        floor = (WEIGHTS + g[1]) / copy * 1e3
        glob = rows.get((seq, "global", "graph"))
        vs = f"{glob[0] / g[0]:.2f}x" if method == "duo" and glob else ""
        same = "" if not l or g[2] is None or l[2] is None else ("yes" if list(g[2]) == list(l[2]) else
            f"first {next(i for i, (a, b) in enumerate(zip(g[2], l[2])) if a != b)} of {len(g[2])}")
        print(f"| {seq} | {method} | {g[1] / 1e9:.1f} | {floor:.2f} | {l[0] if l else float('nan'):.2f} | **{g[0]:.2f}** | "
              f"{g[0] / floor:.2f}x | {(l[0] / g[0]) if l else float('nan'):.2f}x | {vs} | {same} |")
for (seq, method, path), (ms, kv, gen) in sorted(rows.items()):
    print(f"{seq} {method} {path}: {ms:.2f} ms/token, tokens {list(gen[:12]) if gen is not None else None}")
PY
say "done"
