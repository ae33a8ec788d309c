#!/usr/bin/env bash
# The simulator's predictions of docs/SIMULATOR.md, on any machine (no GPU): the paper's settings on its
# hardware (DGX A100 platform, A100 profile derived from the H200 calibration), Llama-3-8B-Instruct-
# Gradient-1048K at 1M tokens, and the star-vs-ring scaling surface over 8-256 GPUs (1-32 DGX H200 nodes),
# 128K-4M tokens and blocks of 8K-256K. Resumable: rerun it and finished runs are skipped.
#   jobs/simulate_predictions.sh [OUT=results/predictions.h5] [PARTS=paper,million,surface] [STARBENCH_BIN=build/starbench]
set -euo pipefail
cd "$(dirname "$0")/.."
sb=${STARBENCH_BIN:-build/starbench}
out=${OUT:-results/predictions.h5}
parts=${PARTS:-paper,million,surface}
mkdir -p "$(dirname "$out")"
has() { [[ ",$parts," == *",$1,"* ]]; }
a100=(--platform configs/platforms/dgx-a100.xml --hardware configs/hardware/a100.json)
h200=(--platform configs/platforms/dgx-h200.xml --hardware configs/hardware/h200.json)
common=(--repeats 1 --warmup 0 -o "$out")
if has paper; then
  # Table 1 (block = anchor = context / 4) on 4 A100s, both ring layouts; global on one A100 where it fits.
  "$sb" simulate --config configs/paper_llama31_8b.toml "${a100[@]}" --ranks 4 "${common[@]}"
  # launch.sh: 4 hosts at 16K-64K (block = context / 4), 8 hosts at 128K (block 16384).
  "$sb" simulate --config configs/paper_launch_4hosts.toml "${a100[@]}" --ranks 4 "${common[@]}"
  "$sb" simulate --config configs/paper_launch_8hosts.toml "${a100[@]}" --ranks 8 "${common[@]}"
fi
if has million; then
  # The paper's 1M-token model on one and two DGX H200 nodes, block = context / ranks and fixed blocks.
  for ranks in 8 16; do
    blocks=$(python3 -c "print(','.join(['0'] + [str(b) for b in [65536, 131072] if 1048576 // b >= $ranks]))")
    "$sb" simulate --model-preset llama3-8b-gradient-1048k --method ring,star --seq-len 1048576 \
      --ring-layout zigzag,contiguous --block-size "$blocks" --query-len 64 --generate 8 \
      "${h200[@]}" --ranks "$ranks" "${common[@]}"
  done
fi
if has surface; then
  # Star vs ring over GPUs x length x block size (Llama-3.1-8B shape).
  for ranks in 8 16 32 64 128 256; do
    # Lengths that give every rank at least 8K tokens; blocks that give every rank a block at the longest.
    lengths=$(python3 -c "print(','.join(str(n) for n in [131072, 262144, 524288, 1048576, 2097152, 4194304] if n // $ranks >= 8192))")
    blocks=$(python3 -c "print(','.join(str(b) for b in [8192, 16384, 32768, 65536, 131072, 262144] if b * $ranks <= 4194304))")
    "$sb" simulate --model-preset llama3.1-8b --method ring,star --seq-len "$lengths" \
      --ring-layout zigzag,contiguous --block-size "$blocks" --query-len 64 --generate 4 \
      "${h200[@]}" --ranks "$ranks" "${common[@]}"
  done
fi
