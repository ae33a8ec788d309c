#!/usr/bin/env bash
# Multi-GPU table (one rank per GPU, NCCL): Llama-3.1-8B shape, synthetic
# weights, global on 1 GPU vs ring and star on all GPUs (block = context /
# ranks, anchor = block). Run on the device machine:
#   jobs/device/multi_gpu.sh   (BUILD=build-gpu, SHORT=32768,131072, LONG=524288, LONG_TIMEOUT=300)
#   The 1M rows: SHORT= LONG=1048576 LONG_TIMEOUT=540 jobs/device/multi_gpu.sh
# SHORT lengths get 1 warm-up + 2 timed repeats and a global baseline; LONG
# lengths 1 timed repeat with no warm-up (cuDNN plan building included) and no
# global (it would take minutes on one GPU).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/check-out}
SHORT=${SHORT-32768,131072}  # empty: long lengths only
LONG=${LONG-524288}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
gpus=${GPUS:-$(if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then tr , "\n" <<<"$CUDA_VISIBLE_DEVICES" | grep -c .; else nvidia-smi -L | wc -l; fi)}  # the GPUs this script may use
cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a -DSTARBENCH_TESTS=OFF \
  >"$OUT/multi_build.log" 2>&1 && cmake --build "$BUILD" -j"$(nproc)" --target starbench >>"$OUT/multi_build.log" 2>&1 ||
  { tail -30 "$OUT/multi_build.log"; exit 1; }
sb="$BUILD/starbench"
mpi=(mpiexec --allow-run-as-root --oversubscribe)
results="$OUT/multi_gpu.h5"
rm -f "$results"
model=(--backend cuda --model-preset llama3.1-8b --query-len 64 --generate 4)
if [[ -n $SHORT ]]; then
  timeout 200 "${mpi[@]}" -n 1 "$sb" run "${model[@]}" --method global --seq-len "$SHORT" --repeats 2 --warmup 1 \
    -o "$results" >"$OUT/multi_global.log" 2>&1 || tail -5 "$OUT/multi_global.log"
  timeout 200 "${mpi[@]}" -n "$gpus" "$sb" run "${model[@]}" --method ring,star --seq-len "$SHORT" --repeats 2 \
    --warmup 1 -o "$results" >"$OUT/multi_short.log" 2>&1 || tail -5 "$OUT/multi_short.log"
fi
if [[ -n $LONG ]]; then
  timeout ${LONG_TIMEOUT:-300} "${mpi[@]}" -n "$gpus" "$sb" run "${model[@]}" --method ring,star --seq-len "$LONG" --repeats 1 \
    --warmup 0 -o "$results" >"$OUT/multi_long.log" 2>&1 || tail -5 "$OUT/multi_long.log"
fi
python3 - "$results" "$gpus" <<'PY' | tee "$OUT/multi_gpu.md"
import sys, h5py
rows = {}
with h5py.File(sys.argv[1], "r") as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        m = a["method"].decode() if isinstance(a["method"], bytes) else a["method"]
        rows[(int(a["seq_len"]), m)] = dict(w=int(a["world_size"]), ctx=a["context_ms"], q=a["query_ms"],
            dec=a["decode_ms_per_token"], tot=a["total_ms"], mem=a["peak_mem_bytes"] / 2**30,
            comm=a["comm_bytes_context"] / 2**30, kl=a.get("kl_vs_global", float("nan")), reps=int(a["repeats"]))
print(f"| context | method | GPUs | repeats | context ms | query ms | decode ms/tok | end-to-end ms | star vs ring (context / e2e) | ring scaling vs 1-GPU global | comm GiB (context) | peak GiB/rank | KL vs global |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (seq, m), r in sorted(rows.items()):
    ring, glob = rows.get((seq, "ring")), rows.get((seq, "global"))
    star = f"{ring['ctx'] / r['ctx']:.2f}x / {ring['tot'] / r['tot']:.2f}x" if m == "star" and ring else ""
    scale = f"{glob['ctx'] / r['ctx']:.2f}x ({glob['ctx'] / r['ctx'] / r['w'] * 100:.0f}% eff.)" if m == "ring" and glob else ""
    print(f"| {seq} | {m} | {r['w']} | {r['reps']} | {r['ctx']:.0f} | {r['q']:.1f} | {r['dec']:.2f} | {r['tot']:.0f} | {star} | {scale} | {r['comm']:.1f} | {r['mem']:.1f} | {r['kl']:.2e} |")
PY
