#!/usr/bin/env bash
# Star vs ring on all GPUs of one node (docs/SPEEDUP.md) and the hardware profile
# for the simulator (docs/SIMULATOR.md), in one device call. Llama-3.1-8B shape,
# synthetic bf16 weights, query 64 tokens, 4 greedy tokens; one rank per GPU.
#   jobs/device/star_study.sh
#   STAGES=build,methods,calibrate,study   BUILD=build-gpu   DEADLINE_S=560 (the whole script)
#   SHORT=32768,65536,131072 (1 warm-up + 2 timed repeats)   LONG=262144 (1 + 1)
# Everything lands in $OUT: study.h5 (every run), <gpu>.json (the profile), logs; a
# markdown table is printed last. Stages that would pass the deadline are cut.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/check-out}
STAGES=${STAGES:-build,methods,calibrate,study}
SHORT=${SHORT-32768,65536,131072}
LONG=${LONG-262144}
DEADLINE_S=${DEADLINE_S:-560}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
has() { [[ ",$STAGES," == *",$1,"* ]]; }
RUN_FOR_NAME=study
source jobs/device/deadline.sh  # begin, left, run_for (the script runs from the repository root)
gpus=${GPUS:-$(if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then tr , "\n" <<<"$CUDA_VISIBLE_DEVICES" | grep -c .; else nvidia-smi -L | wc -l; fi)}  # the GPUs this script may use
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv | tee "$OUT/gpus.csv"
git rev-parse --short HEAD 2>/dev/null | tee "$OUT/commit.txt"

if has build; then
  start=$(date +%s)
  cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DSTARBENCH_TESTS=OFF >"$OUT/study_build.log" 2>&1 &&
    cmake --build "$BUILD" -j"$(nproc)" --target starbench >>"$OUT/study_build.log" 2>&1 ||
    { tail -30 "$OUT/study_build.log"; exit 1; }
  echo "build: $(( $(date +%s) - start )) s"
fi
sb="$BUILD/starbench"
mpi=(mpiexec --allow-run-as-root --oversubscribe --bind-to none)

if has methods; then  # the new paths on GPUs against the cpu backend (tiny reference checkpoint)
  BUILD=$BUILD OUT=$OUT E2E_SEQS= run_for 150 "$OUT/methods_run.log" bash tests/gpu/check_methods.sh
  cat "$OUT/methods_summary.md" 2>/dev/null
fi

if has calibrate; then
  name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed 's/^NVIDIA //; s/[^A-Za-z0-9]\+/-/g' | tr A-Z a-z)
  run_for 240 "$OUT/calibrate.log" "${mpi[@]}" -n 2 "$sb" calibrate --backend cuda \
    --model-preset llama3.1-8b,llama3.1-70b -o "$OUT/${name:-gpu}.json"
  grep "starbench calibrate" "$OUT/calibrate.log" | tail -8
fi

if has study; then
  # Ordered by what matters most, each sweep resuming over the ones before (stored runs are skipped), so a
  # deadline cuts the least important rows. Star anchor = block, anchor sent unless said otherwise.
  results="$OUT/study.h5"
  model=(--backend cuda --model-preset llama3.1-8b --query-len 64 --generate 4)
  multi=("${mpi[@]}" -n "$gpus" "$sb" run "${model[@]}")
  # 1. The acceptance rows: block 16K against the zigzag ring, and star as it was (anchor recomputed per block).
  run_for 100 "$OUT/study.log" "${multi[@]}" --method ring,star --seq-len 131072 --ring-layout zigzag \
    --block-size 16384 --anchor-mode sent,recompute --repeats 2 --warmup 1 -o "$results"
  [[ -n $LONG ]] && run_for 150 "$OUT/study.log" "${multi[@]}" --method ring,star --seq-len "$LONG" \
    --ring-layout zigzag --block-size 16384 --anchor-mode sent,recompute --repeats 1 --warmup 1 -o "$results"
  # 2. The paper's ring (contiguous shards) at the same lengths.
  run_for 150 "$OUT/study.log" "${multi[@]}" --method ring --seq-len "131072${LONG:+,$LONG}" \
    --ring-layout contiguous --repeats 1 --warmup 1 -o "$results"
  # 3. The rest of the grid: 32K-128K, both rings, star at context / ranks, context / 4, 16K and 32K blocks;
  #    the anchor computed once at 128K; global on one GPU; 256K at context / 4 and 32K blocks.
  [[ -n $SHORT ]] && run_for 200 "$OUT/study.log" "${multi[@]}" --method ring,star --seq-len "$SHORT" \
    --ring-layout zigzag,contiguous --block-size 0,C/4,16384,32768 --anchor-mode sent --repeats 2 --warmup 1 \
    -o "$results"
  run_for 60 "$OUT/study.log" "${multi[@]}" --method star --seq-len 131072 --block-size 16384 --anchor-mode once \
    --repeats 2 --warmup 1 -o "$results"
  [[ -n $SHORT ]] && run_for 100 "$OUT/study.log" "${mpi[@]}" -n 1 "$sb" run "${model[@]}" --method global \
    --seq-len "$SHORT" --repeats 1 --warmup 1 -o "$results"
  [[ -n $LONG ]] && run_for 120 "$OUT/study.log" "${multi[@]}" --method star --seq-len "$LONG" \
    --block-size C/4,32768 --anchor-mode sent --repeats 1 --warmup 1 -o "$results"
  PYTHONPATH=. python3 -m analysis speedup-table "$results" | tee "$OUT/study_table.md"
fi
echo "star_study: $(( $(date +%s) - begin )) s"
