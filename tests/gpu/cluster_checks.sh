#!/usr/bin/env bash
# Cluster behaviour on GPUs (issue 14), for the device machine (1 or 2 GPUs):
#  1. NCCL deadline, communicator setup: rank 1 never joins; rank 0 must end the
#     job after STARBENCH_COLLECTIVE_TIMEOUT_S (10 s here) naming the setup.
#  2. NCCL deadline, a hung broadcast (2+ GPUs): rank 1 never sends; rank 0 must
#     end the job naming "broadcast from rank 1 over 2 ranks".
#  3. More ranks than GPUs: refused on every rank, naming host, ranks and GPUs,
#     no results file.
#  4. A normal sweep through the non-blocking NCCL communicator (2+ GPUs; 1 GPU:
#     global only) and test_nccl: nothing broke, and the records name the GPU,
#     its driver and the node layout.
#   tests/gpu/cluster_checks.sh      (BUILD=build-gpu, OUT=$BUILD/cluster-out)
# Logs and results go to $OUT, packed into $OUT/cluster_checks.tar.gz; a summary
# is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/cluster-out}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 STARBENCH_COLLECTIVE_TIMEOUT_S=10
summary="$OUT/summary.md"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
mpi=(mpiexec --allow-run-as-root --oversubscribe)
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
note "## cluster checks: $(date -u +%FT%TZ), $gpus GPU(s), commit $(git rev-parse --short HEAD 2>/dev/null)"

if ! { cmake -S . -B "$BUILD" -DSTARBENCH_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
         >"$OUT/build.log" 2>&1 &&
       cmake --build "$BUILD" -j"$(nproc)" --target starbench nccl_deadline test_nccl >>"$OUT/build.log" 2>&1; }; then
  tail -30 "$OUT/build.log"
  note "- build: **FAILED** (build.log)"
  exit 1
fi

# expect_deadline NAME FRAGMENT COMMAND...: ends non-zero between 10 and 90 s, FRAGMENT and
# "did not complete within 10 s" in the output.
expect_deadline() {
  local name=$1 fragment=$2 start status=0
  shift 2
  start=$(date +%s)
  timeout -k 5 150 "$@" >"$OUT/$name.log" 2>&1 || status=$?
  local took=$(( $(date +%s) - start ))
  if [[ $status -ne 0 && $status -ne 124 && $took -ge 10 && $took -le 90 ]] &&
     grep -q -- "$fragment" "$OUT/$name.log" && grep -q "did not complete within 10 s" "$OUT/$name.log"; then
    note "- $name: ok, ended after ${took} s (exit $status): $(grep -o -- "$fragment.*within 10 s" "$OUT/$name.log" | head -1)"
  else
    note "- $name: **FAILED** (exit $status after ${took} s; $name.log)"
    tail -15 "$OUT/$name.log"
  fi
}

expect_deadline nccl_init_deadline "NCCL communicator setup over 2 ranks" \
  "${mpi[@]}" -n 2 "$BUILD/tests/gpu/nccl_deadline" init
if (( gpus >= 2 )); then
  expect_deadline nccl_broadcast_deadline "NCCL broadcast from rank 1 over 2 ranks" \
    "${mpi[@]}" -n 2 "$BUILD/tests/gpu/nccl_deadline" broadcast
else
  note "- nccl_broadcast_deadline: skipped (needs 2 GPUs, one per rank)"
fi

# More ranks than GPUs.
rm -f "$OUT/too_many.h5"
status=0
timeout 120 "${mpi[@]}" -n $((gpus + 1)) "$BUILD/starbench" run --backend cuda --seq-len 256 -o "$OUT/too_many.h5" \
  >"$OUT/too_many_ranks.log" 2>&1 || status=$?
if [[ $status -ne 0 && ! -e $OUT/too_many.h5 ]] &&
   grep -q "runs $((gpus + 1)) rank(s) (.*) but sees $gpus GPU(s)" "$OUT/too_many_ranks.log"; then
  note "- too_many_ranks: ok: $(grep -o "host .*GPU(s)" "$OUT/too_many_ranks.log" | head -1)"
else
  note "- too_many_ranks: **FAILED** (exit $status; too_many_ranks.log)"
fi

# A normal sweep over NCCL, and the NCCL unit tests.
ranks=$(( gpus >= 2 ? 2 : 1 ))
methods=$( (( ranks >= 2 )) && echo global,ring,star || echo global)
rm -f "$OUT/sweep.h5"
if timeout 300 "${mpi[@]}" -n "$ranks" "$BUILD/starbench" run --backend cuda --model-preset llama3.1-8b \
     --method "$methods" --seq-len 4096,8192 --query-len 16 --generate 2 --repeats 1 --warmup 1 -o "$OUT/sweep.h5" \
     >"$OUT/sweep.log" 2>&1; then
  python3 - "$OUT/sweep.h5" "$ranks" <<'PY' >>"$summary" 2>&1 || note "- sweep records: **FAILED**"
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    runs = list(f["runs"].values())
    for g in runs:
        for key in ["device", "gpu_driver", "hosts", "node_layout"]:
            assert key in g.attrs, (g.name, key)
        world = int(g.attrs["world_size"])
        assert g.attrs["node_layout"] == f"1x{world}", g.attrs["node_layout"]
        assert g.attrs["params_key"].endswith(f";node_layout=1x{world}")
    g = runs[-1]
    print(f"- sweep: ok, {len(runs)} runs; device {g.attrs['device']}, driver {g.attrs['gpu_driver']}, "
          f"layout {g.attrs['node_layout']}; "
          + ", ".join(f"{g.attrs['method']} {g.attrs['seq_len']}: {g.attrs['context_ms']:.1f} ms" for g in runs))
PY
else
  note "- sweep: **FAILED** (sweep.log)"
  tail -15 "$OUT/sweep.log"
fi
if (( gpus >= 2 )); then
  if timeout 300 "${mpi[@]}" -n 2 "$BUILD/tests/gpu/test_nccl" >"$OUT/test_nccl.log" 2>&1; then
    note "- test_nccl (non-blocking communicator): ok, $(grep -c '\[       OK \]' "$OUT/test_nccl.log") test(s) passed"
  else
    note "- test_nccl: **FAILED** (test_nccl.log)"
  fi
fi
tar -czf "$OUT/cluster_checks.tar.gz" -C "$OUT" --exclude cluster_checks.tar.gz . 2>/dev/null
echo
cat "$summary"
