#!/usr/bin/env bash
# Trains the tiny retrieval Llama-3 (tests/reference/tiny_retrieval/train.py) on the
# device machine and packs everything into ONE tar under $OUT: builds starbench
# (CPU backend only: it makes the task data and checks the tokenizer), generates
# the data, trains the tokenizer and the model until the time budget, evaluates
# the export with transformers, writes the tokenizer reference ids.
#
#   jobs/device/train_tiny_retrieval.sh [--budget SECONDS] [train.py options: --smoke, --resume TAR, ...]
#
# --budget (default 470) bounds the whole script, build included; the training
# stops early enough for export, evaluation and the tar. Resume a previous call:
# carry its tar in a git-ignored folder and pass --resume .carry/tiny/tiny_retrieval.tar.
# Output: $OUT/tiny_retrieval.tar (tiny-retrieval/, train.log, status.json,
# eval_records.json, build.log); the last lines printed are the summary.
set -uo pipefail
start=$(date +%s)
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/build-tiny/out}
BUILD=${BUILD:-build-tiny}
budget=470
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --budget) budget=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
mkdir -p "$OUT"
work=$(mktemp -d /tmp/tiny-retrieval.XXXXXX)
tar_path="$OUT/tiny_retrieval.tar"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
# starbench (an MPI program) runs as a singleton; OpenMPI refuses root without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export TINY_RETRIEVAL_COMMAND="jobs/device/train_tiny_retrieval.sh --budget $budget ${args[*]}"

echo "== build starbench ($BUILD, CPU backend, starbench target only)"
if ! { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTARBENCH_CUDA=OFF -DSTARBENCH_TESTS=OFF &&
       cmake --build "$BUILD" -j"$(nproc)" --target starbench; } >"$work/build.log" 2>&1; then
  tail -30 "$work/build.log"
  tar -cf "$tar_path" -C "$work" build.log
  echo "SUMMARY: build FAILED after $(( $(date +%s) - start )) s; $tar_path holds build.log"
  exit 1
fi
echo "built in $(( $(date +%s) - start )) s"

left=$(( budget - ($(date +%s) - start) - 10 ))
echo "== train.py with a budget of $left s (GPU: ${CUDA_VISIBLE_DEVICES:-all visible})"
status=0
timeout -k 10 $(( left + 60 )) "${PYTHON:-python3}" -u tests/reference/tiny_retrieval/train.py \
  --starbench "$BUILD/starbench" --words tests/reference/data/words/words.txt \
  --out "$work/run" --tar "$tar_path" --time-budget "$left" "${args[@]}" || status=$?
if [[ ! -f $tar_path ]]; then  # train.py was killed before packing: keep what there is
  tar -cf "$tar_path" -C "$work/run" . 2>/dev/null || tar -cf "$tar_path" -T /dev/null
fi
tar -rf "$tar_path" -C "$work" build.log
echo "SUMMARY: train.py exit $status after $(( $(date +%s) - start )) s in all; $tar_path ($(du -h "$tar_path" | cut -f1))"
exit $status
