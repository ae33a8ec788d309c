#!/usr/bin/env bash
# Methods on GPUs (cuda backend, one rank per GPU), run on the device machine:
#   1. the tiny HF reference checkpoint: cuda global vs cpu global (greedy tokens
#      identical, logits within bf16 tolerance), cuda ring on all GPUs vs cuda
#      global on one, cuda star vs cpu star on the same rank count, cuda duo and
#      star + duo vs cpu;
#   2. Llama-3.1-8B shape, synthetic weights: global (1 GPU) vs ring and star
#      (all GPUs, block = context / ranks) at E2E_SEQS, table printed last.
# Usage: tests/gpu/check_methods.sh   (BUILD=build-gpu, OUT=..., E2E_SEQS=32768,131072; empty skips part 2)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/check-out}
E2E_SEQS=${E2E_SEQS-32768,131072}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
gpus=${GPUS:-$(if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then tr , "\n" <<<"$CUDA_VISIBLE_DEVICES" | grep -c .; else nvidia-smi -L | wc -l; fi)}  # the GPUs this script may use
start=$(date +%s)
cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a -DSTARBENCH_TESTS=OFF \
  >"$OUT/methods_build.log" 2>&1 && cmake --build "$BUILD" -j"$(nproc)" --target starbench >>"$OUT/methods_build.log" 2>&1 ||
  { tail -40 "$OUT/methods_build.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s on $gpus GPU(s)"
sb="$BUILD/starbench"
mpi=(mpiexec --allow-run-as-root --oversubscribe)
ref=tests/reference/data
tokens=$(python3 -c "
import json, struct
raw = open('$ref/global_reference.safetensors', 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]; h = json.loads(raw[8:8 + n]); t = h['tokens']
vals = struct.unpack('<%df' % t['shape'][0], raw[8 + n + t['data_offsets'][0]:8 + n + t['data_offsets'][1]])
print(','.join(str(int(v)) for v in vals))")
common=(forward --model "$ref/tiny-llama3" --tokens "$tokens" --context-len 80 --generate 8)
"${mpi[@]}" -n 1 "$sb" "${common[@]}" --backend cpu --method global -o "$OUT/cpu_global.h5" >"$OUT/methods.log" 2>&1
"${mpi[@]}" -n 1 "$sb" "${common[@]}" --backend cuda --method global -o "$OUT/cuda_global.h5" >>"$OUT/methods.log" 2>&1
"${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" --backend cuda --method ring -o "$OUT/cuda_ring.h5" >>"$OUT/methods.log" 2>&1
"${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" --backend cuda --method star --block-size 20 --anchor-size 8 \
  -o "$OUT/cuda_star.h5" >>"$OUT/methods.log" 2>&1
"${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" --backend cpu --method star --block-size 20 --anchor-size 8 \
  -o "$OUT/cpu_star.h5" >>"$OUT/methods.log" 2>&1
"${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" --backend cuda --method ring --ring-layout contiguous \
  -o "$OUT/cuda_ring_contiguous.h5" >>"$OUT/methods.log" 2>&1
for mode in recompute once; do  # the anchor recomputed per block, or computed once per rank (default: sent)
  "${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" --backend cuda --method star --block-size 20 --anchor-size 8 \
    --anchor-mode $mode -o "$OUT/cuda_star_$mode.h5" >>"$OUT/methods.log" 2>&1
done
for backend in cuda cpu; do  # the anchor ablation: each block prefixed by the block before it
  "${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" --backend $backend --method star --block-size 20 --anchor-size 8 \
    --anchor-source previous -o "$OUT/${backend}_star_prev.h5" >>"$OUT/methods.log" 2>&1
done
# DuoAttention: a mixed pattern (streaming and retrieval heads in both layers' KV heads), sink 4, recent 8.
mkdir -p "$OUT/duo_pattern"
printf '0.9\t0.1\n0.2\t0.7\n' >"$OUT/duo_pattern/full_attention_heads.tsv"
echo '{"sink_size": 4, "recent_size": 8}' >"$OUT/duo_pattern/config.json"
for backend in cuda cpu; do
  "${mpi[@]}" -n 1 "$sb" "${common[@]}" --backend $backend --method duo --duo-pattern "$OUT/duo_pattern" \
    -o "$OUT/${backend}_duo.h5" >>"$OUT/methods.log" 2>&1
  "${mpi[@]}" -n "$gpus" "$sb" "${common[@]}" --backend $backend --method star --block-size 20 --anchor-size 8 \
    --duo-pattern "$OUT/duo_pattern" -o "$OUT/${backend}_star_duo.h5" >>"$OUT/methods.log" 2>&1
done
python3 - "$OUT" "$gpus" <<'PY' | tee "$OUT/methods_summary.md"
import sys, h5py, numpy as np
out, gpus = sys.argv[1], sys.argv[2]
def load(name):
    with h5py.File(f"{out}/{name}.h5", "r") as f:
        return f["logits"][()].astype(np.float64), f["generated"][()]
print(f"| comparison (tiny reference checkpoint, C=80, 16 query + 8 greedy) | rel. error of logits | max abs | greedy tokens |")
print("|---|---|---|---|")
for a, b, label in [("cuda_global", "cpu_global", "cuda global vs cpu global"),
                    ("cuda_ring", "cuda_global", f"cuda ring ({gpus} GPUs) vs cuda global (1 GPU)"),
                    ("cuda_ring_contiguous", "cuda_global", f"cuda ring, contiguous layout ({gpus} GPUs) vs cuda global"),
                    ("cuda_star", "cpu_star", f"cuda star, anchor sent ({gpus} GPUs, B=20, A=8) vs cpu star ({gpus} ranks)"),
                    ("cuda_star_once", "cpu_star", f"cuda star, anchor once ({gpus} GPUs) vs cpu star (sent)"),
                    ("cuda_star_recompute", "cpu_star", f"cuda star, anchor recomputed ({gpus} GPUs) vs cpu star (sent)"),
                    ("cuda_star_prev", "cpu_star_prev", f"cuda star, anchor = previous block ({gpus} GPUs) vs cpu"),
                    ("cuda_duo", "cpu_duo", "cuda duo (mixed pattern, sink 4, recent 8) vs cpu duo"),
                    ("cuda_star_duo", "cpu_star_duo", f"cuda star + duo ({gpus} GPUs, B=20, A=8) vs cpu")]:
    try:
        (la, ta), (lb, tb) = load(a), load(b)
    except Exception as error:
        print(f"| {label} | missing output: {error} | | |"); continue
    rel = np.linalg.norm(la - lb) / np.linalg.norm(lb)
    print(f"| {label} | {rel:.2e} ({'ok' if rel < 1e-2 else 'FAIL'}) | {np.abs(la - lb).max():.2e} | "
          f"{'identical' if (ta == tb).all() else 'DIFFER ' + str(ta) + ' vs ' + str(tb)} |")
PY
[[ -z $E2E_SEQS ]] && exit 0  # E2E_SEQS= : the reference-checkpoint comparisons only
rm -f "$OUT/e2e.h5"
timeout 300 "${mpi[@]}" -n 1 "$sb" run --backend cuda --model-preset llama3.1-8b --method global --seq-len "$E2E_SEQS" \
  --query-len 64 --generate 4 --repeats 2 --warmup 1 -o "$OUT/e2e.h5" >"$OUT/e2e_global.log" 2>&1 || tail -5 "$OUT/e2e_global.log"
timeout 300 "${mpi[@]}" -n "$gpus" "$sb" run --backend cuda --model-preset llama3.1-8b --method ring,star \
  --seq-len "$E2E_SEQS" --query-len 64 --generate 4 --repeats 2 --warmup 1 -o "$OUT/e2e.h5" >"$OUT/e2e_multi.log" 2>&1 ||
  tail -5 "$OUT/e2e_multi.log"
"$sb" inspect "$OUT/e2e.h5" | tee "$OUT/e2e_inspect.txt"
python3 - "$OUT/e2e.h5" <<'PY' | tee -a "$OUT/methods_summary.md"
import sys, h5py
rows = {}
with h5py.File(sys.argv[1], "r") as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        m = a["method"].decode() if isinstance(a["method"], bytes) else a["method"]
        rows[(int(a["seq_len"]), m)] = (int(a["world_size"]), a["context_ms"], a["query_ms"], a["decode_ms_per_token"],
                                        a["total_ms"], a["peak_mem_bytes"] / 2**30, a.get("kl_vs_global", float("nan")))
print("\n| context | method | GPUs | context ms | query ms | decode ms/token | end-to-end ms | star speedup vs ring (ctx / e2e) | peak GiB | KL vs global |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (seq, m), (w, c, q, d, t, mem, kl) in sorted(rows.items()):
    ring = rows.get((seq, "ring"))
    speed = f"{ring[1] / c:.2f}x / {ring[4] / t:.2f}x" if m == "star" and ring else ""
    print(f"| {seq} | {m} | {w} | {c:.0f} | {q:.1f} | {d:.2f} | {t:.0f} | {speed} | {mem:.1f} | {kl:.2e} |")
PY
