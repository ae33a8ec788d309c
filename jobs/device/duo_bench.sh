#!/usr/bin/env bash
# DuoAttention on GPUs (the device machine). Logs, results files and a summary
# go to $OUT; a markdown table is printed last.
#
#   PART=single (default, one H200): Llama-3-8B-Instruct-Gradient-1048k shape
#     (preset llama3-8b-gradient-1048k, synthetic weights), global vs duo at
#     sparsity 0.5 (--duo-pattern random:1: seeded gates, every layer split alike)
#     with the Llama-3.1 pattern's sink/recent (configs/duo): KV bytes, peak
#     memory (whole run, and while decoding), decode ms/token and prefill ms at
#     SEQS, then at the longest of LONGER that the rest of BUDGET_S allows
#     (predicted from the last length's wall time, attention ~ length^2); next
#     to DuoAttention's published GQA ratios (1.67x memory, 1.50x decode,
#     1.63x prefill).
#   PART=star (2 GPUs): star vs star + duo with the same pattern (anchor
#     computed once per rank in both): phase-2 bytes (query + decoding),
#     query and decode ms at STAR_SEQS.
#
# Env: BUILD=build-gpu  BUDGET_S=180 (the single part's runs; the build is not counted)
#      SEQS=65536,262144  LONGER=524288,458752,393216,327680  STAR_SEQS=65536,131072  SPARSITY=0.5
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/duo-out}
PART=${PART:-single}
BUDGET_S=${BUDGET_S:-180}
SEQS=${SEQS:-65536,262144}
LONGER=${LONGER-524288,458752,393216,327680}
STAR_SEQS=${STAR_SEQS:-65536,131072}
SPARSITY=${SPARSITY:-0.5}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
export STARBENCH_CUDNN_VERBOSE=1  # cuDNN's engine choice (tuned once per shape) in the logs
summary="$OUT/duo_summary.md"
: >"$summary"

start=$(date +%s)
cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DSTARBENCH_TESTS=OFF >"$OUT/duo_build.log" 2>&1 &&
  cmake --build "$BUILD" -j"$(nproc)" --target starbench >>"$OUT/duo_build.log" 2>&1 ||
  { tail -30 "$OUT/duo_build.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s" | tee -a "$summary"
sb="$BUILD/starbench"
mpi=(mpiexec --allow-run-as-root --oversubscribe)
read -r sink recent < <(python3 -c "
import json; c = json.load(open('configs/duo/Meta-Llama-3.1-8B-Instruct/config.json'))
print(c['sink_size'], c['recent_size'])")
duo=(--duo-pattern random:1 --duo-sparsity "$SPARSITY" --duo-sink "$sink" --duo-recent "$recent")
model=(--backend cuda --model-preset llama3-8b-gradient-1048k)
echo "pattern: random:1, sparsity $SPARSITY, sink $sink, recent $recent (configs/duo/Meta-Llama-3.1-8B-Instruct)" |
  tee -a "$summary"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$summary"
git log -1 --format='commit %h %cd' 2>/dev/null | tee -a "$summary"

# run_length LENGTH REPEATS WARMUP: global and duo at one length into its own file; prints its wall seconds.
run_length() {
  local length=$1 repeats=$2 warmup=$3 limit=$4 t0
  t0=$(date +%s.%N)
  timeout -k 10 "$limit" "${mpi[@]}" -n 1 "$sb" run "${model[@]}" "${duo[@]}" --method global,duo --seq-len "$length" \
    --query-len 16 --generate 17 --repeats "$repeats" --warmup "$warmup" -o "$OUT/duo_$length.h5" \
    >"$OUT/duo_$length.log" 2>&1 || echo "  (length $length: exit $?; see duo_$length.log)" >&2
  python3 -c "import time; print(f'{time.time() - $t0:.0f}')"
}

if [[ $PART == single || $PART == both ]]; then
  budget_start=$(date +%s)
  last_len=0 last_wall=0
  IFS=, read -ra lengths <<<"$SEQS"
  for length in "${lengths[@]}"; do
    if (( length <= 131072 )); then reps=2 warm=1; else reps=1 warm=0; fi
    left=$(( BUDGET_S - ($(date +%s) - budget_start) ))
    (( left > 20 )) || { echo "length $length: no time left in BUDGET_S=$BUDGET_S" | tee -a "$summary"; break; }
    wall=$(run_length "$length" $reps $warm "$left")
    echo "length $length: $wall s (repeats $reps, warm-up $warm)" | tee -a "$summary"
    last_len=$length last_wall=$wall
  done
  # The longest further length whose predicted time (quadratic in the length) fits what is left.
  if [[ -n $LONGER ]] && (( last_len > 0 )); then
    left=$(( BUDGET_S - ($(date +%s) - budget_start) ))
    IFS=, read -ra candidates <<<"$LONGER"
    chosen=$(python3 -c "
left, last, wall = $left, $last_len, $last_wall
fits = [l for l in map(int, '${candidates[*]}'.split()) if l > last and wall * (l / last) ** 2 * 1.1 + 10 <= left]
print(max(fits) if fits else 0)")
    if (( chosen > 0 )); then
      wall=$(run_length "$chosen" 1 0 "$left")
      echo "longest length that fits the budget: $chosen ($wall s; $left s were left)" | tee -a "$summary"
    else
      echo "no length of LONGER fits the $left s left of BUDGET_S=$BUDGET_S (the last took $last_wall s)" |
        tee -a "$summary"
    fi
  fi
  python3 - "$OUT" "$SPARSITY" "$sink" "$recent" <<'PY' | tee -a "$summary"
import glob, sys, h5py
out, sparsity, sink, recent = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def text(value):
    return value.decode() if isinstance(value, bytes) else value
rows = {}
for path in sorted(glob.glob(f"{out}/duo_*.h5")):
    with h5py.File(path, "r") as f:
        for name in f["runs"]:
            a = f["runs"][name].attrs
            rows[(int(a["seq_len"]), text(a["method"]))] = {k: a[k] for k in a}
# Expectations from FLOPs and bytes (Llama-3-8B shape: 32 layers, 32/8 heads, d 128; bf16): prefill =
# (linear + causal attention) / (linear + (1 - s) attention + s x streaming attention), with linear =
# 2 x 6.98e9 matrix parameters per token, causal = 2 S^2 d H L, streaming = 4 S (sink + recent) d H L;
# decode = (weights read + KV) / (weights read + (1 - s) KV) (7.5e9 parameters read per token, KV =
# 128 KiB per token); memory while decoding = (weights held + KV) / (weights held + (1 - s) KV).
L, H, d = 32, 32, 128
LINEAR, READ, HELD = 6.98e9, 2 * 7.50e9, 2 * 8.03e9
def model(S):
    linear, attention = 2 * LINEAR * S, 2 * S * S * d * H * L
    streaming = 4 * S * (sink + recent) * d * H * L
    kv = S * 2 * L * 8 * d * 2
    return ((linear + attention) / (linear + (1 - sparsity) * attention + sparsity * streaming),
            (READ + kv) / (READ + (1 - sparsity) * kv), (HELD + kv) / (HELD + (1 - sparsity) * kv))
print("\n| context | global prefill ms | duo prefill ms | prefill ratio (FLOP model) | global decode ms/tok | "
      "duo decode ms/tok | decode ratio (byte model) | KV GiB global / duo | KV ratio | decoding peak GiB global / duo "
      "| memory ratio (byte model) | run peak GiB global / duo | duo KL vs global |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for seq in sorted({s for s, _ in rows}):
    g, u = rows.get((seq, "global")), rows.get((seq, "duo"))
    if not g or not u:
        print(f"| {seq} | {'global' if not g else 'duo'} run missing (see duo_{seq}.log) | | | | | | | | | | | |")
        continue
    prefill_model, decode_model, memory_model = model(seq)
    gib = 2.0 ** 30
    print(f"| {seq} | {g['context_ms']:.0f} | {u['context_ms']:.0f} | **{g['context_ms'] / u['context_ms']:.2f}x** "
          f"({prefill_model:.2f}x) | {g['decode_ms_per_token']:.2f} | {u['decode_ms_per_token']:.2f} | "
          f"**{g['decode_ms_per_token'] / u['decode_ms_per_token']:.2f}x** ({decode_model:.2f}x) | "
          f"{g['kv_cache_bytes'] / gib:.1f} / {u['kv_cache_bytes'] / gib:.1f} | {g['kv_cache_bytes'] / u['kv_cache_bytes']:.2f}x | "
          f"{g['decode_peak_mem_bytes'] / gib:.1f} / {u['decode_peak_mem_bytes'] / gib:.1f} | "
          f"**{g['decode_peak_mem_bytes'] / u['decode_peak_mem_bytes']:.2f}x** ({memory_model:.2f}x) | "
          f"{g['peak_mem_bytes'] / gib:.1f} / {u['peak_mem_bytes'] / gib:.1f} | {u.get('kl_vs_global', float('nan')):.2e} |")
print("\nDuoAttention's published GQA ratios (Llama-3-8B, arXiv 2410.10819): memory 1.67x, decode 1.50x, "
      "prefill 1.63x. Ratios are global / duo; in brackets the FLOP / byte model's.")
PY
fi

if [[ $PART == star || $PART == both ]]; then
  gpus=${GPUS:-$(if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then tr , "\n" <<<"$CUDA_VISIBLE_DEVICES" | grep -c .; else nvidia-smi -L | wc -l; fi)}  # the GPUs this script may use
  results="$OUT/star_duo.h5"
  rm -f "$results"
  # --anchor-mode once for both: star + duo cannot send the anchor (it keeps the retrieval heads' context KV
  # only), so star computes it once per rank too and phase 1 is the same work in both.
  common=(run "${model[@]}" --method star --anchor-mode once --seq-len "$STAR_SEQS" --query-len 64 --generate 9
          --repeats 2 --warmup 1 -o "$results")
  timeout -k 10 400 "${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" >"$OUT/star.log" 2>&1 || tail -5 "$OUT/star.log"
  timeout -k 10 400 "${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" "${duo[@]}" >"$OUT/star_duo.log" 2>&1 ||
    tail -5 "$OUT/star_duo.log"
  python3 - "$results" "$SPARSITY" <<'PY' | tee -a "$summary"
import sys, h5py
rows = {}
with h5py.File(sys.argv[1], "r") as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        rows[(int(a["seq_len"]), "duo_pattern" in a)] = {k: a[k] for k in a}
s = float(sys.argv[2])
# Phase-2 bytes per layer and query row: gather of (out bf16 + lse f32) per head from the other ranks,
# then the broadcast of out: star + duo gathers the retrieval heads only.
expected = ((1 - s) * (2 * 128 + 4) + 2 * 128) / ((2 * 128 + 4) + 2 * 128)
print("\n| context | GPUs | star phase-2 MiB | star+duo phase-2 MiB | ratio (expected) | star query ms | "
      "star+duo query ms | star decode ms/tok | star+duo decode ms/tok | KV GiB/rank star / star+duo | context ms star / star+duo |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for seq in sorted({k[0] for k in rows}):
    a, b = rows.get((seq, False)), rows.get((seq, True))
    if not a or not b:
        print(f"| {seq} | | missing run | | | | | | | | |")
        continue
    mib, gib = 2.0 ** 20, 2.0 ** 30
    print(f"| {seq} | {int(a['world_size'])} | {a['comm_bytes_query'] / mib:.1f} | {b['comm_bytes_query'] / mib:.1f} | "
          f"{b['comm_bytes_query'] / a['comm_bytes_query']:.3f} ({expected:.3f}) | {a['query_ms']:.2f} | {b['query_ms']:.2f} | "
          f"{a['decode_ms_per_token']:.2f} | {b['decode_ms_per_token']:.2f} | "
          f"{a['kv_cache_bytes'] / gib:.1f} / {b['kv_cache_bytes'] / gib:.1f} | {a['context_ms']:.0f} / {b['context_ms']:.0f} |")
PY
fi
tar -czf "$OUT/duo_logs.tar.gz" -C "$OUT" $(cd "$OUT" && ls *.log 2>/dev/null) 2>/dev/null
echo; echo "## summary"; cat "$summary"
