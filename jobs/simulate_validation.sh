#!/usr/bin/env bash
# The simulator against the GPU measurements in docs/data/ (docs/SIMULATOR.md's validation table): every
# measured configuration simulated with the H200 hardware profile on the DGX H200 platform, then paired
# with its measurement by `python3 -m analysis validate`. No GPU needed; about a minute here.
#   jobs/simulate_validation.sh [OUT=results/validation_sim.h5] [STARBENCH_BIN=build/starbench]
set -euo pipefail
cd "$(dirname "$0")/.."
sb=${STARBENCH_BIN:-build/starbench}
out=${OUT:-results/validation_sim.h5}
mkdir -p "$(dirname "$out")"
sim() { "$sb" simulate --platform configs/platforms/dgx-h200.xml --hardware configs/hardware/h200.json \
          --model-preset llama3.1-8b --query-len 64 --generate 4 --repeats 1 --warmup 0 -o "$out" "$@"; }
# 1 GPU: global (docs/data/star_study_2xh200.h5)
sim --ranks 1 --method global --seq-len 32768,65536,131072
# 2 GPUs (docs/data/star_study_2xh200.h5)
sim --ranks 2 --method ring,star --seq-len 32768,65536,131072,262144 --ring-layout zigzag,contiguous \
  --block-size 0,C/4,16384,32768 --anchor-mode sent
sim --ranks 2 --method star --seq-len 131072,262144 --block-size 16384 --anchor-mode recompute,once
# 4 GPUs (docs/data/star_study_4xh200.h5)
sim --ranks 4 --method ring,star --seq-len 32768,65536,131072,262144 --ring-layout zigzag,contiguous \
  --block-size C/4,16384,32768
sim --ranks 4 --method ring,star --seq-len 524288 --ring-layout zigzag --block-size C/4,32768
sim --ranks 4 --method ring,star --seq-len 1048576 --ring-layout zigzag --block-size C/4,65536
PYTHONPATH=. /usr/bin/python3 -m analysis validate docs/data/star_study_2xh200.h5 docs/data/star_study_4xh200.h5 "$out"
