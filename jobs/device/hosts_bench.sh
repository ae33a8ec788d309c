#!/usr/bin/env bash
# Hosts of several GPUs on 2 GPUs of one node (issue 19's benchmark rows), in one device call:
#   check  the tensor split on cuda against the cpu backend (tiny reference checkpoint, global on 1 host x 2)
#   tp8b   Llama-3.1-8B shape, global on one host of 2 GPUs (tensor) vs one GPU at 32K-128K
#          (goal: prefill >= 1.8x, decode >= 1.6x)
#   layers8b  the same, layer split (goal: within 10 % of one GPU's time)
#   tp70b  Llama-3.1-70B shape on one host of 2 GPUs (tensor): prefill tokens/s at 16K-64K, decode ms/token
#          against its floor (weights + KV per GPU over the measured copy bandwidth), and HF transformers with
#          its layers split over the same two GPUs (device_map-style, jobs/device/hf_device_map.py) in the
#          same call (goal: >= 1.8x its prefill)
#   calibrate  the hardware profile with the all-reduce and the 2-GPU tensor shards' GEMMs (for the simulator)
#   STAGES=build,check,tp8b,layers8b,tp70b,calibrate  BUILD=build-gpu  DEADLINE_S=560
#   SEQ8B=32768,65536,131072  SEQ70B=16384,32768,65536
# Everything lands in $OUT (hosts.h5, logs, hosts_summary.md); the summary is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/check-out}
STAGES=${STAGES:-build,check,tp8b,layers8b,tp70b,calibrate}
SEQ8B=${SEQ8B:-32768,65536,131072}
SEQ70B=${SEQ70B:-16384,32768,65536}
DEADLINE_S=${DEADLINE_S:-560}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
has() { [[ ",$STAGES," == *",$1,"* ]]; }
RUN_FOR_NAME=hosts
source jobs/device/deadline.sh  # begin, left, run_for (the script runs from the repository root)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpus.csv"
git rev-parse --short HEAD 2>/dev/null | tee "$OUT/commit.txt"
sb="$BUILD/starbench"
mpi=(mpiexec --allow-run-as-root --oversubscribe --bind-to none)
results="$OUT/hosts.h5"

if has build; then
  cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DSTARBENCH_TESTS=OFF >"$OUT/hosts_build.log" 2>&1 &&
    cmake --build "$BUILD" -j"$(nproc)" --target starbench >>"$OUT/hosts_build.log" 2>&1 ||
    { tail -30 "$OUT/hosts_build.log"; exit 1; }
fi

if has check; then  # cuda tensor split vs the cpu backend's unsplit forward, tiny reference checkpoint
  model=tests/reference/data/tiny-llama3
  tokens=$("$PYTHON" -c "import random; r=random.Random(1); print(','.join(str(r.randrange(512)) for _ in range(90)))")
  common=(forward --model "$model" --tokens "$tokens" --context-len 80 --generate 4 --method global)
  run_for 60 "$OUT/hosts_check.log" "$sb" "${common[@]}" --backend cpu -o "$OUT/check_cpu.h5"
  run_for 60 "$OUT/hosts_check.log" "${mpi[@]}" -n 2 "$sb" "${common[@]}" --backend cuda --gpus-per-host 2 \
    -o "$OUT/check_cuda_1x2.h5"
  "$PYTHON" - "$OUT" <<'PY' | tee -a "$OUT/hosts_summary.md"
import sys, h5py, numpy as np
with h5py.File(f"{sys.argv[1]}/check_cpu.h5") as a, h5py.File(f"{sys.argv[1]}/check_cuda_1x2.h5") as b:
    err = np.abs(a["logits"][()] - b["logits"][()]).max() / np.abs(a["logits"][()]).max()
    same = (a["generated"][()] == b["generated"][()]).all()
print(f"- check: cuda global on 1 host x 2 GPUs vs cpu: max rel logit error {err:.2e} (bf16: < 3e-2), tokens {'equal' if same else 'DIFFER'}")
PY
fi

if has tp8b; then
  model=(--backend cuda --model-preset llama3.1-8b --method global --query-len 64 --generate 16 --repeats 2 --warmup 1)
  run_for 200 "$OUT/hosts_tp8b.log" "${mpi[@]}" -n 2 "$sb" run "${model[@]}" --gpus-per-host 2 --seq-len "$SEQ8B" -o "$results"
  run_for 200 "$OUT/hosts_tp8b.log" "${mpi[@]}" -n 1 "$sb" run "${model[@]}" --seq-len "$SEQ8B" -o "$results"
fi

if has layers8b; then
  model=(--backend cuda --model-preset llama3.1-8b --method global --query-len 64 --generate 16 --repeats 2 --warmup 1)
  run_for 200 "$OUT/hosts_layers8b.log" "${mpi[@]}" -n 2 "$sb" run "${model[@]}" --gpus-per-host 2 \
    --host-split layers --seq-len "$SEQ8B" -o "$results"
fi

if has tp70b; then
  model=(--backend cuda --model-preset llama3.1-70b --method global --query-len 64 --generate 8 --repeats 1 --warmup 1)
  run_for 240 "$OUT/hosts_tp70b.log" "${mpi[@]}" -n 2 "$sb" run "${model[@]}" --gpus-per-host 2 --seq-len "$SEQ70B" -o "$results"
  run_for 200 "$OUT/hosts_hf.log" "$PYTHON" jobs/device/hf_device_map.py --preset llama3.1-70b --seq "$SEQ70B" \
    --csv "$OUT/hf_device_map.csv"
fi

if has calibrate; then
  name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed 's/^NVIDIA //; s/[^A-Za-z0-9]\+/-/g' | tr A-Z a-z)
  run_for 240 "$OUT/hosts_calibrate.log" "${mpi[@]}" -n 2 "$sb" calibrate --backend cuda --gpus-per-host 2 \
    --model-preset llama3.1-8b,llama3.1-70b -o "$OUT/${name:-gpu}.json"
  grep "starbench calibrate: comm" "$OUT/hosts_calibrate.log"
fi

"$PYTHON" - "$results" "$OUT/hf_device_map.csv" <<'PY' | tee -a "$OUT/hosts_summary.md"
import csv, os, sys, h5py
text = lambda v: v.decode() if isinstance(v, bytes) else v
rows = {}
if os.path.exists(sys.argv[1]):
    with h5py.File(sys.argv[1]) as f:
        for name in f["runs"]:
            a = dict(f["runs"][name].attrs)
            rows[(text(a["model"]), int(a["seq_len"]), int(a.get("gpus_per_host", 1)),
                  text(a.get("host_split", "tensor")))] = a
hf, copy_gbps = {}, None
if os.path.exists(sys.argv[2]):
    for r in csv.DictReader(open(sys.argv[2])):
        if r["what"] == "copy":
            copy_gbps = float(r["value"])
        else:
            hf[int(r["seq_len"])] = float(r["value"])
# Decode floor of the 70B shape on 2 GPUs: each GPU reads its weights (half the layers' plus the replicated
# embedding and lm_head) and its KV once per token, at the measured device copy bandwidth.
layers_70b = 80 * (2 * 8192 * 8192 + 2 * 8192 * 1024 + 3 * 8192 * 28672)
weights_per_gpu = 2 * (layers_70b / 2 + 2 * 128256 * 8192)
print("\n| model | context | GPUs | split | prefill ms | prefill tok/s | decode ms/token | vs 1 GPU prefill | vs 1 GPU decode "
      "| decode floor ms | HF layer split prefill ms | vs HF |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (model, seq, gpus, split), a in sorted(rows.items()):
    one = rows.get((model, seq, 1, "tensor"))
    def ratio(key):
        return "%.2fx" % (one[key] / a[key]) if one is not None and gpus > 1 and a[key] > 0 else "-"
    h = hf.get(seq) if model == "llama3.1-70b" and gpus == 2 and split == "tensor" else None
    floor = "-"
    if model == "llama3.1-70b" and gpus == 2 and split == "tensor" and copy_gbps:
        floor = "%.2f" % ((weights_per_gpu + float(a["kv_cache_bytes"])) / (copy_gbps * 1e9) * 1e3)
    print("| %s | %d | %d | %s | %.0f | %.0f | %.2f | %s | %s | %s | %s | %s |" % (
        model, seq, gpus, split if gpus > 1 else "-", a["context_ms"], a["context_tokens_per_s"], a["decode_ms_per_token"], ratio("context_ms"),
        ratio("decode_ms_per_token"), floor, "%.0f" % h if h else "-", "%.2fx" % (h / a["context_ms"]) if h else "-"))
print(f"\ngoals: 8B 1x2 tensor vs 1 GPU prefill >= 1.8x, decode >= 1.6x; 8B 1x2 layers vs 1 GPU >= 0.91x; "
      f"70B 1x2 tensor vs HF layer split prefill >= 1.8x; "
      f"copy bandwidth {copy_gbps} GB/s")
PY
