#!/usr/bin/env bash
# GPU check for starbench's cuda backend, run on a machine with an NVIDIA GPU:
# environment report, Release build for sm_90a, test_cuda, kernel benchmarks
# (bench_gemm, bench_attention), torch peers (jobs/device/peer_bench.py) in the same call,
# and the end-to-end `starbench run` when it exists. Logs go to $OUT (default
# $BUILD/check-out, inside the ignored build dir); a short markdown summary is printed last.
#
#   STAGES=env,build,test,bench,peers,e2e  (default: all)   BUILD=build-gpu
#   SEQS=16384,32768,65536,131072  PREFILL=8192,16384,32768,65536  E2E_SEQS=8192,16384,32768
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/check-out}
mkdir -p "$OUT"
STAGES=${STAGES:-env,build,test,bench,peers,e2e}
SEQS=${SEQS:-16384,32768,65536,131072}
PREFILL=${PREFILL:-8192,16384,32768,65536}
E2E_SEQS=${E2E_SEQS:-8192,16384,32768}
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
export PYTHONUNBUFFERED=1
summary="$OUT/summary.md"
: >"$summary"
has() { [[ ",$STAGES," == *",$1,"* ]]; }
note() { echo "$*" | tee -a "$summary"; }
python=${PYTHON:-python3}

if has env; then
  {
    echo "## environment"; date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
    nvcc --version | tail -2; cmake --version | head -1; c++ --version | head -1
    command -v mpicxx mpiexec || echo "MISSING: MPI (mpicxx/mpiexec)"
    for header in H5public.h CLI/CLI.hpp fmt/format.h nlohmann/json.hpp gtest/gtest.h cudnn_version.h nccl.h mpi.h; do
      found=$(find /usr/include /usr/local/include /usr/local/cuda/include /usr/lib/x86_64-linux-gnu/openmpi/include \
              -name "$(basename $header)" -path "*$header" 2>/dev/null | head -1)
      echo "$header: ${found:-MISSING}"
    done
    grep -h -E "define CUDNN_(MAJOR|MINOR|PATCHLEVEL) " /usr/local/cuda/include/cudnn_version.h /usr/include/cudnn_version.h \
      /usr/include/x86_64-linux-gnu/cudnn_version.h 2>/dev/null
    grep -h -E "define NCCL_(MAJOR|MINOR|PATCH) " /usr/local/cuda/include/nccl.h /usr/include/nccl.h 2>/dev/null
    ls /usr/local/cuda/lib64 2>/dev/null | grep -E "libcudnn.so|libnccl.so|libcublasLt.so" | head
    $python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  } 2>&1 | tee "$OUT/env.log"
  grep -q MISSING "$OUT/env.log" && note "- env: **missing dependencies**: $(grep MISSING "$OUT/env.log" | tr '\n' ' ')"
fi

if has build; then
  start=$(date +%s)
  if cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
       >"$OUT/build.log" 2>&1 &&
     cmake --build "$BUILD" -j"$(nproc)" --target test_cuda test_nccl bench_attention bench_gemm >>"$OUT/build.log" 2>&1; then
    note "- build: ok ($(( $(date +%s) - start )) s)"
  else
    note "- build: **FAILED** (see build.log)"; tail -30 "$OUT/build.log"
  fi
  # The CLI is optional here: build it if the tree has it, report if it fails.
  cmake --build "$BUILD" -j"$(nproc)" --target starbench >>"$OUT/build.log" 2>&1 && note "- build starbench: ok" ||
    note "- build starbench: not built (see build.log)"
fi

if has test && [[ -x $BUILD/tests/gpu/test_cuda ]]; then
  timeout 300 "$BUILD/tests/gpu/test_cuda" 2>&1 | tee "$OUT/test_cuda.log" | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error" | head -40
  note "- test_cuda: $(grep -E '^\[  (PASSED|FAILED)  \]' "$OUT/test_cuda.log" | tr '\n' ' ')"
  gpus=${GPUS:-$(if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then tr , "\n" <<<"$CUDA_VISIBLE_DEVICES" | grep -c .; else nvidia-smi -L | wc -l; fi)}  # the GPUs this script may use
  if (( gpus >= 2 )); then
    timeout 120 mpiexec --allow-run-as-root -n "$gpus" "$BUILD/tests/gpu/test_nccl" >"$OUT/test_nccl.log" 2>&1
    note "- test_nccl ($gpus ranks): exit $? $(grep -E '^\[  (PASSED|FAILED)' "$OUT/test_nccl.log" | head -2 | tr '\n' ' ')"
  else
    note "- test_nccl: skipped (one GPU; NCCL needs one GPU per rank)"
  fi
fi

if has bench && [[ -x $BUILD/tests/gpu/bench_attention ]]; then
  timeout 240 "$BUILD/tests/gpu/bench_gemm" 2>&1 | tee "$OUT/bench_gemm.log"
  timeout 400 "$BUILD/tests/gpu/bench_attention" "$SEQS" 2>&1 | tee "$OUT/bench_attention.log"
fi

if has peers; then
  timeout 500 $python jobs/device/peer_bench.py --seq "$SEQS" --prefill "$PREFILL" 2>&1 | tee "$OUT/peers.log" | grep -v "^(" 
fi

if has e2e; then
  if [[ -x $BUILD/starbench ]]; then
    timeout 400 mpiexec --allow-run-as-root -n 1 "$BUILD/starbench" run --backend cuda --model-preset llama3.1-8b \
      --method global --seq-len "$E2E_SEQS" --output /tmp/starbench-e2e.h5 >"$OUT/e2e.log" 2>&1
    note "- e2e starbench run: exit $? (see e2e.log)"; tail -15 "$OUT/e2e.log"
  else
    note "- e2e: skipped (no starbench executable)"
  fi
fi

echo; echo "## summary"; cat "$summary"
for f in bench_gemm bench_attention peers; do
  [[ -f $OUT/$f.log ]] && { echo; grep -E "^\|" "$OUT/$f.log"; }
done
