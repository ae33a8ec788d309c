#!/usr/bin/env bash
# Runs a starbench command on N local MPI ranks (a workstation or one node
# without Slurm): jobs/local.sh 4 build/starbench run
set -euo pipefail
ranks=${1:?usage: jobs/local.sh RANKS COMMAND...}
shift
flags=(--oversubscribe -n "$ranks")
[[ $(id -u) -eq 0 ]] && flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
exec mpiexec "${flags[@]}" "$@"
