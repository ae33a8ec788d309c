#!/usr/bin/env bash
# The device calls that produced the GPU numbers of docs/ (one call = one lease of a 2-GPU machine, at most
# ~9.5 minutes): the GPU scripts of this folder composed so that both GPUs stay busy.
#   PLAN=A jobs/device/device_call.sh   build; HF DuoAttention references (CPU) and the training script's smoke
#                                     run (GPU 1) in the background; test_cuda (GPU 0), test_nccl; then the
#                                     calibration and the star/ring study on both GPUs (star_study.sh).
#   PLAN=B jobs/device/device_call.sh   the tiny retrieval model's training (GPU 1, train_tiny_retrieval.sh)
#                                     beside DuoAttention vs global (GPU 0, duo_bench.sh); then on both GPUs
#                                     the methods check (cuda vs cpu) and star vs star + duo.
#   PLAN=ACC jobs/device/device_call.sh the accuracy study of docs/ACCURACY.md (jobs/accuracy_tiny_retrieval.sh,
#                                     cuda backend, 2 GPUs; slow: see jobs/accuracy_tiny_retrieval.sh).
#   PLAN=DUOACC jobs/device/device_call.sh  DuoAttention vs global at the longest length that fits one H200
#                                     (GPU 0) beside the accuracy study on the CPUs (2K, 4K) and the duo gates.
# Everything is packed into $OUT/<plan>.tar (+ the training / reference tars); summaries print last.
set -uo pipefail
cd "$(dirname "$0")/../.."
PLAN=${PLAN:?PLAN=A or PLAN=B}
DEADLINE_S=${DEADLINE_S:-560}
RESULT_DIR=${OUT:-$PWD/build-gpu/device-out}
mkdir -p "$RESULT_DIR"
work=/tmp/device-$PLAN
rm -rf "$work" && mkdir -p "$work"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PYTHONUNBUFFERED=1
BUILD=build-gpu
begin=$(date +%s)
left() { echo $(( DEADLINE_S - ($(date +%s) - begin) )); }
say() { echo "[$(( $(date +%s) - begin )) s] $*" | tee -a "$work/summary.md"; }
nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.sm --format=csv | tee "$work/gpus.csv"
git rev-parse --short HEAD 2>/dev/null | tee "$work/commit.txt"
git status --short | head -20 >"$work/tree_status.txt"

build() {  # build TARGETS...
  cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DSTARBENCH_TESTS=ON -DSTARBENCH_SIMGRID=OFF >"$work/build.log" 2>&1 &&
    cmake --build "$BUILD" -j"$(nproc)" --target "$@" >>"$work/build.log" 2>&1
}

# Waits for the accuracy studies PIDS...; REPORT_S before the deadline, stops every part of them (nothing else
# runs on the lent machine) so that the report can still be made from what they committed.
stop_studies_at_deadline() {
  local running
  while :; do
    running=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && running=1; done
    (( running && $(left) > ${REPORT_S:-100} )) || break
    sleep 5
  done
  if (( running )); then
    say "deadline: study stopped"
    pkill -TERM -f "jobs/accuracy_tiny_retrieval.sh|xargs -P|starbench run --config"; sleep 8
    pkill -KILL -f "jobs/accuracy_tiny_retrieval.sh|xargs -P|starbench run --config"
  fi
  wait "$@"
}

if [[ $PLAN == A ]]; then
  (cd tests/reference && timeout 420 python3 make_reference.py --only duo --out /tmp/ref_duo \
    --tar "$RESULT_DIR/ref_duo.tar" >"$work/ref_duo.log" 2>&1; echo "exit $?" >>"$work/ref_duo.log") &
  (CUDA_VISIBLE_DEVICES=1 OUT=/tmp/smoke timeout 240 bash jobs/device/train_tiny_retrieval.sh --budget 200 --smoke \
    >"$work/smoke.log" 2>&1; echo "exit $?" >>"$work/smoke.log"; cp /tmp/smoke/tiny_retrieval.tar "$work/smoke.tar") &
  smoke=$!
  build starbench test_cuda test_nccl && say "build ok" || { say "build FAILED"; tail -30 "$work/build.log"; }
  CUDA_VISIBLE_DEVICES=0 timeout 150 "$BUILD/tests/gpu/test_cuda" >"$work/test_cuda.log" 2>&1
  say "test_cuda: exit $? $(grep -E '^\[  (PASSED|FAILED)' "$work/test_cuda.log" | tr '\n' ' ')"
  grep -A1 "FAILED\b" "$work/test_cuda.log" | head -20
  # The smoke run owns GPU 1 until it ends (at most ~4 min after the start).
  wait "$smoke"
  say "training smoke: $(tail -3 "$work/smoke.log" | tr '\n' ' ')"
  timeout 120 mpiexec --allow-run-as-root -n 2 "$BUILD/tests/gpu/test_nccl" >"$work/test_nccl.log" 2>&1
  say "test_nccl: exit $? $(grep -E '^\[  (PASSED|FAILED)' "$work/test_nccl.log" | tr '\n' ' ')"
  OUT=$work BUILD=$BUILD STAGES=calibrate,study DEADLINE_S=$(( $(left) - 25 )) bash jobs/device/star_study.sh \
    >"$work/star_study.log" 2>&1
  say "star study: $(tail -1 "$work/star_study.log")"
  wait
  say "duo references: $(tail -2 "$work/ref_duo.log" | tr '\n' ' ')"
  cat "$work/study_table.md" 2>/dev/null
elif [[ $PLAN == X4 ]]; then
  # A 4-GPU host, four jobs side by side on their own GPUs (each timing on GPUs no other job touches; the
  # host's CPUs, memory and PCIe are shared): GPUs 0-1 the calibration and the star/ring study, GPU 2
  # test_cuda then DuoAttention vs global, GPU 3 the training; then GPUs 2-3 the methods check and star
  # vs star + duo. CPU: the HF DuoAttention references.
  (cd tests/reference && timeout 420 python3 make_reference.py --only duo --out /tmp/ref_duo \
    --tar "$RESULT_DIR/ref_duo.tar" >"$work/ref_duo.log" 2>&1; echo "exit $?" >>"$work/ref_duo.log") &
  (CUDA_VISIBLE_DEVICES=3 OUT=/tmp/train timeout 470 bash jobs/device/train_tiny_retrieval.sh --budget 440 \
    ${TRAIN_ARGS:-} >"$work/train.log" 2>&1; echo "exit $?" >>"$work/train.log"
    cp /tmp/train/tiny_retrieval.tar "$RESULT_DIR/tiny_retrieval.tar") &
  train=$!
  build starbench test_cuda test_nccl && say "build ok" || { say "build FAILED"; tail -30 "$work/build.log"; }
  (CUDA_VISIBLE_DEVICES=2 timeout 150 "$BUILD/tests/gpu/test_cuda" >"$work/test_cuda.log" 2>&1
   echo "test_cuda exit $?" >>"$work/test_cuda.log"
   CUDA_VISIBLE_DEVICES=2 OUT=$work/duo BUILD=$BUILD BUDGET_S=${DUO_BUDGET_S:-200} timeout 330 \
     bash jobs/device/duo_bench.sh >"$work/duo_single.log" 2>&1; echo "duo exit $?" >>"$work/duo_single.log") &
  duo=$!
  CUDA_VISIBLE_DEVICES=0,1 timeout 120 mpiexec --allow-run-as-root -n 2 "$BUILD/tests/gpu/test_nccl" \
    >"$work/test_nccl.log" 2>&1
  say "test_nccl: exit $? $(grep -E '^\[  (PASSED|FAILED)' "$work/test_nccl.log" | tr '\n' ' ')"
  (CUDA_VISIBLE_DEVICES=0,1 OUT=$work BUILD=$BUILD STAGES=calibrate,study DEADLINE_S=$(( $(left) - 30 )) \
    bash jobs/device/star_study.sh >"$work/star_study.log" 2>&1) &
  study=$!
  wait "$duo"
  say "$(tail -1 "$work/test_cuda.log"); $(grep -E '^\[  (PASSED|FAILED)' "$work/test_cuda.log" | tr '\n' ' ')"
  say "duo vs global (GPU 2): $(tail -1 "$work/duo_single.log")"
  wait "$train"
  say "training: $(grep SUMMARY "$work/train.log" | tail -1)"
  CUDA_VISIBLE_DEVICES=2,3 OUT=$work BUILD=$BUILD E2E_SEQS= timeout 90 bash tests/gpu/check_methods.sh \
    >"$work/methods.log" 2>&1
  say "methods check (GPUs 2-3): exit $?"
  (( $(left) > 100 )) && CUDA_VISIBLE_DEVICES=2,3 OUT=$work/duo BUILD=$BUILD PART=star STAR_SEQS=${STAR_SEQS:-65536} \
    timeout $(( $(left) - 40 )) bash jobs/device/duo_bench.sh >"$work/duo_star.log" 2>&1
  say "star vs star + duo (GPUs 2-3): $(tail -1 "$work/duo_star.log" 2>/dev/null)"
  wait "$study"
  say "star study (GPUs 0-1): $(tail -1 "$work/star_study.log")"
  wait
  say "duo references: $(tail -2 "$work/ref_duo.log" | tr '\n' ' ')"
  cat "$work/study_table.md" "$work/methods_summary.md" "$work/duo/duo_summary.md" 2>/dev/null
  grep -E "SUMMARY" "$work/train.log" | tail -3
elif [[ $PLAN == X4B ]]; then
  # Four ranks (issue 13, docs/SPEEDUP.md): the 1M-token rows, the 32K-512K study at the paper's host count,
  # then DuoAttention vs global at 256K with a warm-up. Ordered by priority; the deadline cuts the tail.
  run_for() {  # run_for SECONDS cmd...: at most SECONDS and never past the deadline
    local limit=$1
    shift
    (( $(left) - 30 < limit )) && limit=$(( $(left) - 30 ))
    if (( limit < 20 )); then say "skipped (deadline): $*"; return 1; fi
    echo "[$(( $(date +%s) - begin )) s] ($limit s) $*" >>"$work/commands.log"
    timeout -k 10 "$limit" "$@" >>"$work/x4b.log" 2>&1 || { say "FAILED or cut ($?): ${*: -12}"; return 1; }
  }
  build starbench && say "build ok" || { say "build FAILED"; tail -30 "$work/build.log"; }
  results="$work/x4.h5"
  four=(mpiexec --allow-run-as-root --oversubscribe --bind-to none -n 4 "$BUILD/starbench" run --backend cuda
        --model-preset llama3.1-8b --query-len 64 --generate 4 -o "$results")
  run_for 330 "${four[@]}" --method ring,star --seq-len 1048576 --ring-layout zigzag --block-size C/4,65536 \
    --repeats 1 --warmup 0
  say "1M done"
  run_for 150 "${four[@]}" --method ring,star --seq-len 32768,65536,131072,262144 --ring-layout zigzag,contiguous \
    --block-size C/4,16384,32768 --repeats 1 --warmup 1
  say "32K-256K done"
  run_for 120 "${four[@]}" --method ring,star --seq-len 524288 --ring-layout zigzag --block-size C/4,32768 \
    --repeats 1 --warmup 0
  say "512K done"
  PYTHONPATH=. python3 -m analysis speedup-table "$results" | tee "$work/x4_table.md"
elif [[ $PLAN == ACC ]]; then
  # The accuracy study of docs/ACCURACY.md on a 2-GPU machine (issue 12): jobs/accuracy_tiny_retrieval.sh with
  # the cuda backend, PARALLEL 2-rank studies at once (the tiny model leaves the GPUs mostly idle; the CPUs
  # bound it), stage by stage so the deadline cuts the least important tail; the DuoAttention gates are made
  # first on GPU 0 when configs/duo/tiny-retrieval lacks them. Only the report comes back (the parts, ~13 KB per
  # sample and variant, are too large to carry; the same command remakes them).
  build starbench && say "build ok" || { say "build FAILED"; tail -30 "$work/build.log"; }
  if [[ ! -f configs/duo/tiny-retrieval/full_attention_heads.tsv ]]; then
    CUDA_VISIBLE_DEVICES=0 timeout 150 python3 tests/reference/tiny_retrieval/duo_gates.py --starbench \
      "$BUILD/starbench" --out configs/duo/tiny-retrieval ${GATES_ARGS:---steps 300 --length 2048} \
      >"$work/duo_gates.log" 2>&1
    say "duo gates: exit $? $(tail -1 "$work/duo_gates.log")"
    cp -r configs/duo/tiny-retrieval "$work/gates"
  fi
  stages=${STAGES:-main,previous,gates,duo}
  [[ -f configs/duo/tiny-retrieval/full_attention_heads.tsv ]] || stages=${stages//gates/}
  study=(env BACKEND=cuda PARALLEL=${PARALLEL:-7} LENGTHS="${LENGTHS:-1024 2048 4096}" STAGES=$stages OUTPUT=/tmp/acc/acc.h5 bash jobs/accuracy_tiny_retrieval.sh
         "$BUILD/starbench")
  "${study[@]}" >"$work/study.log" 2>&1 &
  stop_studies_at_deadline $!
  say "study: $(grep -c '^==' "$work/study.log") unit(s) started, $(grep -c FAILED "$work/study.log") failed"
  grep -h "ETA" /tmp/acc/acc.parts/*.log | tail -3 >>"$work/summary.md"
  cp /tmp/acc/acc.parts/*.log "$work/" 2>/dev/null
  OUTPUT=/tmp/acc/acc.h5 STAGES=report REPORT="$work/report" PYTHON=python3 bash jobs/accuracy_tiny_retrieval.sh \
    >"$work/report.log" 2>&1
  say "report: exit $? $(tail -1 "$work/report.log")"
  sed -n '/## Mean over tasks/,/## Per task/p' "$work/report/accuracy.md" 2>/dev/null
elif [[ $PLAN == DUOACC ]]; then
  # Two jobs that leave each other alone on a 2-GPU, 32-core machine:
  # - GPU 0, cores 0-3: DuoAttention vs global at the longest length whose global run the memory plan fits on
  #   one H200 (655360; `starbench simulate` says 720896 needs 150 GiB), falling back to 524288 if it fails;
  #   no warm-up (each run is minutes; random:1 gives one attention shape per head kind).
  # - GPU 1: the DuoAttention gates of the tiny model (seconds), then cores 4-31: the accuracy study on the cpu
  #   backend (fp32, like the CI test and the 1K study made on the project's machine), 2K at 50 samples and 4K
  #   at 25 beside each other, stage by stage; the deadline cuts the tail. Only the report comes back.
  build starbench && say "build ok" || { say "build FAILED"; tail -30 "$work/build.log"; }
  (CUDA_VISIBLE_DEVICES=0 OUT=$work/duo BUILD=$BUILD SEQS=${DUO_SEQS:-655360} LONGER= BUDGET_S=$(( $(left) - 40 )) \
     taskset -c 0-3 bash jobs/device/duo_bench.sh >"$work/duo_long.log" 2>&1
   if ! grep -q "^| 655360 | [0-9]" "$work/duo/duo_summary.md" && (( $(left) > 260 )); then
     CUDA_VISIBLE_DEVICES=0 OUT=$work/duo BUILD=$BUILD SEQS=524288 LONGER= BUDGET_S=$(( $(left) - 40 )) \
       taskset -c 0-3 bash jobs/device/duo_bench.sh >>"$work/duo_long.log" 2>&1
   fi) &
  duo=$!
  CUDA_VISIBLE_DEVICES=1 timeout 150 taskset -c 4-31 python3 tests/reference/tiny_retrieval/duo_gates.py \
    --starbench "$BUILD/starbench" --out configs/duo/tiny-retrieval ${GATES_ARGS:---steps 300 --length 2048} \
    >"$work/duo_gates.log" 2>&1
  say "duo gates: exit $? $(grep tie_broken configs/duo/tiny-retrieval/config.json)"
  cp -r configs/duo/tiny-retrieval "$work/gates"
  stages=${STAGES:-main,previous,gates,duo}
  [[ -f configs/duo/tiny-retrieval/full_attention_heads.tsv ]] || stages=${stages//gates/}
  common=(env BACKEND=cpu STAGES=$stages taskset -c 4-31 bash jobs/accuracy_tiny_retrieval.sh "$BUILD/starbench")
  env PARALLEL=${PARALLEL_2K:-8} LENGTHS=2048 OUTPUT=/tmp/acc/acc_2k.h5 "${common[@]}" >"$work/study_2k.log" 2>&1 &
  pid2=$!
  env PARALLEL=${PARALLEL_4K:-6} LENGTHS=4096 EXTRA="--samples 25" OUTPUT=/tmp/acc/acc_4k.h5 "${common[@]}" \
    >"$work/study_4k.log" 2>&1 &
  pid4=$!
  stop_studies_at_deadline "$pid2" "$pid4"
  for n in 2k 4k; do cat /tmp/acc/acc_$n.parts/*.log >"$work/study_$n.units.log" 2>/dev/null; done
  inputs=(/tmp/acc/acc_2k.parts/*.h5 /tmp/acc/acc_4k.parts/*.h5)
  PYTHONPATH=. python3 -m analysis accuracy "${inputs[@]}" --out "$work/report" >"$work/report.log" 2>&1
  say "report: exit $?"
  wait "$duo"
  say "duo: $(tail -3 "$work/duo_long.log" | tr '\n' ' ')"
  cat "$work/duo/duo_summary.md" 2>/dev/null
  sed -n '/## Mean over tasks/,/## Per task/p' "$work/report/accuracy.md" 2>/dev/null
elif [[ $PLAN == B ]]; then
  (CUDA_VISIBLE_DEVICES=1 OUT=/tmp/train timeout 470 bash jobs/device/train_tiny_retrieval.sh --budget 440 \
    ${TRAIN_ARGS:-} >"$work/train.log" 2>&1; echo "exit $?" >>"$work/train.log"
    cp /tmp/train/tiny_retrieval.tar "$RESULT_DIR/tiny_retrieval.tar") &
  train=$!
  build starbench && say "build ok" || { say "build FAILED"; tail -30 "$work/build.log"; }
  CUDA_VISIBLE_DEVICES=0 OUT=$work/duo BUILD=$BUILD BUDGET_S=${DUO_BUDGET_S:-200} timeout 330 \
    bash jobs/device/duo_bench.sh >"$work/duo_single.log" 2>&1
  say "duo vs global (GPU 0): exit $?"
  wait "$train"
  say "training: $(grep SUMMARY "$work/train.log" | tail -1)"
  OUT=$work BUILD=$BUILD E2E_SEQS= timeout $(( $(left) - 90 > 30 ? $(left) - 90 : 30 )) \
    bash tests/gpu/check_methods.sh >"$work/methods.log" 2>&1
  say "methods check: exit $?"
  OUT=$work/duo BUILD=$BUILD PART=star STAR_SEQS=${STAR_SEQS:-65536} timeout $(( $(left) - 15 > 20 ? $(left) - 15 : 20 )) \
    bash jobs/device/duo_bench.sh >"$work/duo_star.log" 2>&1
  say "star vs star + duo (2 GPUs): exit $?"
  cat "$work/methods_summary.md" "$work/duo/duo_summary.md" 2>/dev/null
  grep -E "SUMMARY|accuracy|acc" "$work/train.log" | tail -25
fi
rm -f "$work"/*.lock "$work"/*/*.lock 2>/dev/null
find "$work" -name "*.h5" -print0 | xargs -0 -r python3 jobs/device/strip_results.py >>"$work/summary.md" 2>&1
tar -czf "$RESULT_DIR/$PLAN.tar.gz" -C /tmp "device-$PLAN" 2>/dev/null
say "packed $(du -h "$RESULT_DIR/$PLAN.tar.gz" | cut -f1) in $(( $(date +%s) - begin )) s"
