#!/usr/bin/env bash
# Runs a starbench command on N local MPI ranks (a workstation or one node
# without Slurm): jobs/local.sh 4 build/starbench run
# Each rank gets OMP_NUM_THREADS cores of its own when they fit (Open MPI's
# default for 1-2 ranks binds a rank to one core, where all of its OpenMP
# threads would share it); otherwise no binding. STARBENCH_MPIEXEC_BIND
# replaces that choice (e.g. "--bind-to none").
set -euo pipefail
ranks=${1:?usage: jobs/local.sh RANKS COMMAND...}
shift
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
cores=$(getconf _NPROCESSORS_ONLN)
if (( ranks * OMP_NUM_THREADS <= cores )); then
  bind="--map-by slot:PE=$OMP_NUM_THREADS --bind-to core"
else
  bind="--bind-to none"
fi
flags=(--oversubscribe -n "$ranks")
# shellcheck disable=SC2206  # several words
flags+=(${STARBENCH_MPIEXEC_BIND-$bind})
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
exec mpiexec "${flags[@]}" "$@"
