#!/usr/bin/env bash
# The accuracy study of docs/ACCURACY.md, one command from the repository root:
#
#   jobs/accuracy_tiny_retrieval.sh [STARBENCH_BIN]        (default build/starbench)
#
# For each length C (LENGTHS, default "1024 2048 4096") on RANKS ranks (default 2),
# configs/accuracy_tiny_retrieval.toml (8 tasks x 50 samples, seed 1):
#   main:     global, ring, star at block C/2, C/4, C/8 (of each prompt's context)
#             with anchor = block and anchor 0
#   previous: star at the same blocks with the previous block as anchor
#   duo:      DuoAttention at sparsity 0.25, 0.5, 0.75 with a seeded random head split
#             (random:1), sink 32, recent 128
#   gates:    DuoAttention at the same sparsities with the gates trained for this model
#             (configs/duo/tiny-retrieval, made by tests/reference/tiny_retrieval/duo_gates.py)
# then `python3 -m analysis accuracy` writes the tables, every sample's answers and the
# figures (REPORT, default report/accuracy; PYTHON, default /usr/bin/python3, needs h5py,
# pandas and matplotlib). STAGES (default main,previous,duo,gates,report)
# picks parts; BACKEND (default: the config's cpu) picks the backend, EXTRA adds flags.
#
# Results go to OUTPUT (default results/accuracy_tiny_retrieval.h5); a rerun skips runs
# it holds, so the study can be stopped and resumed, or run one length at a time
# (LENGTHS=4096 ...). PARALLEL=N (default 1) runs N studies at once, one per (length,
# stage, task), each into its own file under ${OUTPUT%.h5}.parts/ (resumable the same
# way); the report reads OUTPUT and every part. On a many-core node, the cpu backend with
# PARALLEL = cores / (2 RANKS) is the fast way; BACKEND=cuda is slower for this model:
# every sample has its own prompt length, so each run plans new cuDNN graphs, and
# several studies on one GPU take turns on it (measured on 2x H200 with PARALLEL=12:
# about 3 s per run and study, against about 0.5-1 s per run on one core pair).
#
# Time: on this project's 2-core CPU machine (2 ranks) about 25 min at 1K, 1 h at 2K and
# 4 h at 4K for main alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/starbench}
LENGTHS=${LENGTHS:-"1024 2048 4096"}
RANKS=${RANKS:-2}
OUTPUT=${OUTPUT:-results/accuracy_tiny_retrieval.h5}
REPORT=${REPORT:-report/accuracy}
STAGES=${STAGES:-main,previous,duo,gates,report}
PARALLEL=${PARALLEL:-1}
GATES=${GATES:-configs/duo/tiny-retrieval}
read -r -a extra <<<"${EXTRA:-}"
[[ -n ${BACKEND:-} ]] && extra+=(--backend "$BACKEND")
config=configs/accuracy_tiny_retrieval.toml
tasks=$(sed -n 's/^task = \[\(.*\)\]/\1/p' "$config" | tr -d '"' | tr ',' ' ')
has() { [[ ",$STAGES," == *",$1,"* ]]; }
[[ -d tests/reference/data/tiny-retrieval ]] ||
  { echo "tests/reference/data/tiny-retrieval is missing (made by jobs/device/train_tiny_retrieval.sh)" >&2; exit 1; }
if has gates && [[ ! -f $GATES/full_attention_heads.tsv ]]; then
  echo "$GATES/full_attention_heads.tsv is missing (made by tests/reference/tiny_retrieval/duo_gates.py);" \
    "leave stage gates out or make it" >&2
  exit 1
fi
parts=${OUTPUT%.h5}.parts
mkdir -p "$(dirname "$OUTPUT")"

# One unit of the study: unit LENGTH STAGE OUTPUT [--task T]
unit() {
  local length=$1 stage=$2 output=$3
  shift 3
  local run=(jobs/local.sh "$RANKS" "$bin" run --config "$config" --seq-len "$length" -o "$output" "$@" "${extra[@]}")
  case $stage in
    main) "${run[@]}" ;;
    previous) "${run[@]}" --method star --anchor-size -1 --anchor-source previous ;;
    duo | gates)
      local pattern=(--duo-pattern random:1 --duo-sink 32 --duo-recent 128)
      [[ $stage == gates ]] && pattern=(--duo-pattern "$GATES")
      for sparsity in 0.25 0.5 0.75; do
        "${run[@]}" --method global,duo "${pattern[@]}" --duo-sparsity "$sparsity"
      done ;;
  esac
}
export -f unit
export bin config RANKS GATES
stages=()
for stage in main previous duo gates; do has $stage && stages+=("$stage"); done
if (( PARALLEL > 1 )); then
  # Each study's ranks float over the node's cores (local.sh would pin every study to the same ones).
  export STARBENCH_MPIEXEC_BIND="--bind-to none" extra_flags="${extra[*]}"
  mkdir -p "$parts"
  # Stage by stage (every length's main study first), so a run cut short keeps the most of what matters.
  for stage in "${stages[@]}"; do
    for length in $LENGTHS; do
      for task in $tasks; do echo "$length $stage $task"; done
    done
  done | xargs -P "$PARALLEL" -L 1 bash -c '
    read -r -a extra <<<"$extra_flags"
    log="'"$parts"'/$0-$1-$2.log"
    echo "== $0 tokens, $1, $2 (log $log)"
    unit "$0" "$1" "'"$parts"'/$0-$1-$2.h5" --task "$2" >"$log" 2>&1 || { echo "FAILED: $0 $1 $2 (see $log)"; tail -3 "$log"; }'
else
  for length in $LENGTHS; do
    for stage in "${stages[@]}"; do
      echo "== $length tokens: $stage"
      unit "$length" "$stage" "$OUTPUT"
    done
  done
fi
if has report; then
  inputs=()
  [[ -f $OUTPUT ]] && inputs+=("$OUTPUT")
  [[ -d $parts ]] && inputs+=("$parts"/*.h5)
  "${PYTHON:-/usr/bin/python3}" -m analysis accuracy "${inputs[@]}" --out "$REPORT"
fi
