#!/usr/bin/env bash
# The Star Attention paper's Table 7 host layouts (configs/table7/), simulated on the DGX A100 platform with its
# derived A100 profile, with each host's model split by layers (the paper's reference code) and by tensor
# parallelism, and star's speedup over the contiguous ring (the paper's baseline) next to the paper's Table 1
# where it publishes one (docs/SIMULATOR.md). No GPU needed; about a minute here.
#   jobs/simulate_table7.sh [OUT=results/table7_sim.h5] [STARBENCH_BIN=build/starbench]
set -euo pipefail
cd "$(dirname "$0")/.."
sb=${STARBENCH_BIN:-build/starbench}
out=${OUT:-results/table7_sim.h5}
mkdir -p "$(dirname "$out")"
for config in configs/table7/*.toml; do
  ranks=$(grep -o -- "--ranks [0-9]*" "$config" | head -1 | cut -d' ' -f2)
  for split in layers tensor; do
    "$sb" simulate --config "$config" --ranks "$ranks" --platform configs/platforms/dgx-a100.xml \
      --host-split "$split" --method ring,star --ring-layout contiguous --repeats 1 --warmup 0 --generate 2 \
      -o "$out" >/dev/null 2>&1 || echo "$config ($split): not simulated (see: $sb simulate --config $config ...)"
  done
done
/usr/bin/python3 - "$out" <<'PY'
import sys, h5py
# The paper's Table 1 (star over its ring, whole request): Llama-3.1-8B at 16K-128K, -70B at 16K-64K.
paper = {("llama3.1-8b", 16384): 1.1, ("llama3.1-8b", 32768): 1.2, ("llama3.1-8b", 65536): 1.8,
         ("llama3.1-8b", 131072): 2.7, ("llama3.1-70b", 16384): 1.7, ("llama3.1-70b", 32768): 2.0,
         ("llama3.1-70b", 65536): 4.7}
text = lambda v: v.decode() if isinstance(v, bytes) else v
runs = {}
with h5py.File(sys.argv[1]) as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        key = (text(a["model"]), int(a["seq_len"]), int(a["host_count"]), int(a["gpus_per_host"]), text(a["host_split"]))
        runs.setdefault(key, {})[text(a["method"])] = (float(a["total_ms"]), float(a["busiest_rank_attention_tflop"]),
                                                        float(a["busiest_rank_matmul_tflop"]))
# The busiest GPU's phase-1 work (TFLOP): what bounds each method's context time.
print("| model | context | hosts x GPUs | split | ring (contiguous) ms | star ms | star / ring | paper (Table 1) "
      "| busiest GPU's attention TFLOP, ring / star | its matmul TFLOP |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (model, seq, hosts, gpus, split), m in sorted(runs.items()):
    if "ring" not in m or "star" not in m:
        continue
    p = paper.get((model, seq))
    ring, star = m["ring"], m["star"]
    print(f"| {model} | {seq // 1024}K | {hosts} x {gpus} | {split} | {ring[0]:.0f} | {star[0]:.0f} | "
          f"{ring[0] / star[0]:.2f}x | {f'{p:.1f}x' if p else '-'} | {ring[1]:.0f} / {star[1]:.0f} | {star[2]:.0f} |")
PY
