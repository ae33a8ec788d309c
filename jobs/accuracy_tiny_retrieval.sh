#!/usr/bin/env bash
# The accuracy study of docs/ACCURACY.md, one command from the repository root:
#
#   jobs/accuracy_tiny_retrieval.sh [STARBENCH_BIN]        (default build/starbench)
#
# For each length C (LENGTHS, default "1024 2048 4096") on RANKS ranks (default 2),
# cpu backend, configs/accuracy_tiny_retrieval.toml (8 tasks x 50 samples, seed 1):
#   main:     global, ring, star at block C/2, C/4, C/8 (of each prompt's context)
#             with anchor = block and anchor 0
#   previous: star at the same blocks with the previous block as anchor
#   duo:      DuoAttention at sparsity 0.25, 0.5, 0.75 with a seeded random head split
#             (random:1; no trained gates exist for this model), sink 32, recent 128
# then `python3 -m analysis accuracy` writes the tables and figure (REPORT, default
# report/accuracy). Everything goes to one results file (OUTPUT, default
# results/accuracy_tiny_retrieval.h5); a rerun skips runs it holds, so the study
# can be stopped and resumed, or run one length at a time (LENGTHS=4096 ...).
# STAGES (default main,previous,report) picks parts. EXTRA: more starbench flags.
#
# Time on this project's 2-core CPU machine (2 ranks; measured with a synthetic
# checkpoint of the same shape, see docs/ACCURACY.md): about 25 min at 1K, 1 h at
# 2K, 4 h at 4K (EXTRA="--samples 25" halves a length).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/starbench}
LENGTHS=${LENGTHS:-"1024 2048 4096"}
RANKS=${RANKS:-2}
OUTPUT=${OUTPUT:-results/accuracy_tiny_retrieval.h5}
REPORT=${REPORT:-report/accuracy}
STAGES=${STAGES:-main,previous,duo,report}
read -r -a extra <<<"${EXTRA:-}"
config=configs/accuracy_tiny_retrieval.toml
has() { [[ ",$STAGES," == *",$1,"* ]]; }
[[ -d tests/reference/data/tiny-retrieval ]] ||
  { echo "tests/reference/data/tiny-retrieval is missing (made by tests/gpu/train_tiny_retrieval.sh)" >&2; exit 1; }
mkdir -p "$(dirname "$OUTPUT")"
for length in $LENGTHS; do
  if has main; then
    echo "== $length tokens: global, ring, star (blocks C/2, C/4, C/8; anchor = block, anchor 0)"
    jobs/local.sh "$RANKS" "$bin" run --config "$config" --seq-len "$length" -o "$OUTPUT" "${extra[@]}"
  fi
  if has previous; then
    echo "== $length tokens: star (blocks C/2, C/4, C/8; anchor = the previous block)"
    jobs/local.sh "$RANKS" "$bin" run --config "$config" --seq-len "$length" --method star --anchor-size -1 \
      --anchor-source previous -o "$OUTPUT" "${extra[@]}"
  fi
  if has duo; then
    for sparsity in 0.25 0.5 0.75; do
      echo "== $length tokens: duo at sparsity $sparsity (random:1, sink 32, recent 128)"
      jobs/local.sh "$RANKS" "$bin" run --config "$config" --seq-len "$length" --method global,duo \
        --duo-pattern random:1 --duo-sparsity "$sparsity" --duo-sink 32 --duo-recent 128 -o "$OUTPUT" "${extra[@]}"
    done
  fi
done
if has report; then
  /usr/bin/python3 -m analysis accuracy "$OUTPUT" --out "$REPORT"
fi
