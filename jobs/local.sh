#!/usr/bin/env bash
# Runs a starbench command on N local MPI ranks (a workstation or one node
# without Slurm): jobs/local.sh 4 build/starbench run
# Works with Open MPI, MPICH and Intel MPI: the launcher (STARBENCH_MPIEXEC,
# default mpiexec, e.g. mpiexec.mpich) is asked which MPI it is and given that
# MPI's flags (jobs/lib/mpi.sh; STARBENCH_MPI_FLAVOUR skips the question).
# Each rank gets OMP_NUM_THREADS cores of its own when they fit (Open MPI's
# default for 1-2 ranks binds a rank to one core, where all of its OpenMP
# threads would share it); otherwise no binding. STARBENCH_MPIEXEC_BIND
# replaces that choice with the launcher's own words (e.g. "--bind-to none").
# STARBENCH_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
ranks=${1:?usage: jobs/local.sh RANKS COMMAND...}
shift
# shellcheck source=lib/mpi.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/mpi.sh"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
launcher=${STARBENCH_MPIEXEC:-mpiexec}
flavour=$(starbench_mpi_flavour "$launcher") || exit 2
cores=$(getconf _NPROCESSORS_ONLN)
if [[ -n ${STARBENCH_MPIEXEC_BIND+set} ]]; then
  per_rank=given
elif (( ranks * OMP_NUM_THREADS <= cores )); then
  per_rank=$OMP_NUM_THREADS
else
  per_rank=none
fi
flags=()
# Local ranks inherit the environment under every MPI: no variables to name.
starbench_mpiexec_flags flags "$flavour" "$ranks" "$per_rank" 1 ""
# shellcheck disable=SC2206  # several words
[[ $per_rank == given ]] && flags+=(${STARBENCH_MPIEXEC_BIND})
if [[ ${STARBENCH_DRY_RUN:-0} == 1 ]]; then
  echo "$launcher ${flags[*]} $*"
  exit 0
fi
exec "$launcher" "${flags[@]}" "$@"
