# shellcheck shell=bash
# Shared by the jobs/*.sbatch scripts (sourced, not run): where things are, the
# environment every rank needs, and how ranks are started. Every setting is an
# environment variable so that a script runs unchanged on a GPU cluster and in
# the CPU test (tests/slurm/run_slurm_test.sh).
#
#   STARBENCH_ROOT         repository checkout (default: the sbatch submit dir)
#   STARBENCH_BIN          the binary (default: $STARBENCH_ROOT/build/starbench)
#   STARBENCH_CONFIG       experiment file (default: set by each script)
#   STARBENCH_RESULTS_DIR  where results files go (default: $STARBENCH_ROOT/results)
#   STARBENCH_OUTPUT       this job's results file (default: <dir>/<job name>-<job id>.h5)
#   STARBENCH_ARGS         more `starbench run` flags, appended (they override the config)
#   STARBENCH_LAUNCHER     srun (default) or mpiexec
#   STARBENCH_SRUN_MPI     srun's --mpi plugin (default: pmix)
#   STARBENCH_SRUN_FLAGS   more srun flags (default: --cpu-bind=cores)
#   STARBENCH_MPIEXEC_FLAGS  more mpiexec flags (default: --bind-to core)
set -euo pipefail

# sbatch runs a copy of the script from the spool directory, so the checkout
# is found from the submit directory, not from $0.
STARBENCH_ROOT=${STARBENCH_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
STARBENCH_BIN=${STARBENCH_BIN:-$STARBENCH_ROOT/build/starbench}
STARBENCH_RESULTS_DIR=${STARBENCH_RESULTS_DIR:-$STARBENCH_ROOT/results}
STARBENCH_LAUNCHER=${STARBENCH_LAUNCHER:-srun}
STARBENCH_SRUN_MPI=${STARBENCH_SRUN_MPI:-pmix}
STARBENCH_ARGS=${STARBENCH_ARGS:-}

starbench_fail() {
  echo "starbench job: error: $*" >&2
  exit 2
}

[[ -x $STARBENCH_BIN ]] || starbench_fail "no starbench binary at STARBENCH_BIN=$STARBENCH_BIN (build it, or set STARBENCH_BIN)"
[[ -n ${STARBENCH_CONFIG:-} ]] || starbench_fail "STARBENCH_CONFIG is not set"
[[ $STARBENCH_CONFIG == /* ]] || STARBENCH_CONFIG=$STARBENCH_ROOT/$STARBENCH_CONFIG
[[ -r $STARBENCH_CONFIG ]] || starbench_fail "experiment file STARBENCH_CONFIG=$STARBENCH_CONFIG is not readable"
mkdir -p "$STARBENCH_RESULTS_DIR" || starbench_fail "cannot create STARBENCH_RESULTS_DIR=$STARBENCH_RESULTS_DIR"

# One results file per job (array tasks included): jobs never write the same
# HDF5 file at once; `python3 -m analysis merge` combines them afterwards.
starbench_default_output() {
  local name=${SLURM_JOB_NAME:-starbench} id=${SLURM_JOB_ID:-local}
  [[ -n ${SLURM_ARRAY_TASK_ID:-} ]] && id=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
  echo "$STARBENCH_RESULTS_DIR/$name-$id.h5"
}
STARBENCH_OUTPUT=${STARBENCH_OUTPUT:-$(starbench_default_output)}

# --- environment of every rank ---------------------------------------------------
# One rank per GPU; starbench picks its device from the node-local rank
# (SLURM_LOCALID / OMPI_COMM_WORLD_LOCAL_RANK), so every rank sees all of the
# node's GPUs: CUDA_VISIBLE_DEVICES is not narrowed per task, which keeps
# CUDA peer access (NVLink) between the ranks of a node possible for NCCL.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
# NVLink SHARP (multicast) off: it needs the fabric manager's multicast setup,
# and ring/star use point-to-point and small broadcasts that gain nothing from it.
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
# Warnings only; set NCCL_DEBUG=INFO to see the chosen transports (NVLink, IB, sockets).
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
# Multi-node: NCCL picks InfiniBand when present. On Ethernet-only clusters set
# NCCL_SOCKET_IFNAME to the fast interface (e.g. eth0) and, if needed,
# NCCL_IB_DISABLE=1. Left to NCCL's defaults here.
# A collective that waits longer than this ends the job with a message instead
# of hanging (long contexts need more than the default 600 s).
export STARBENCH_COLLECTIVE_TIMEOUT_S=${STARBENCH_COLLECTIVE_TIMEOUT_S:-1800}

# Runs `starbench run` on every task of the allocation with the config, the
# output and any further flags.
starbench_launch() {
  local -a command=("$STARBENCH_BIN" run --config "$STARBENCH_CONFIG" --output "$STARBENCH_OUTPUT")
  # Word splitting of STARBENCH_ARGS is intended: it holds several flags.
  # shellcheck disable=SC2206
  command+=($STARBENCH_ARGS "$@")
  local -a launcher
  case $STARBENCH_LAUNCHER in
    srun)
      # One task per GPU as requested by the #SBATCH lines; PMIx wires up MPI.
      # shellcheck disable=SC2206
      launcher=(srun --mpi="$STARBENCH_SRUN_MPI" --kill-on-bad-exit=1 ${STARBENCH_SRUN_FLAGS---cpu-bind=cores})
      # Since Slurm 22.05 srun no longer inherits sbatch's --cpus-per-task.
      [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && launcher+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
      ;;
    mpiexec)
      # Open MPI reads the Slurm allocation itself (no hostfile); for MPI
      # builds whose PMIx does not match srun's.
      launcher=(mpiexec -n "${SLURM_NTASKS:?the mpiexec launcher needs SLURM_NTASKS}")
      [[ $(id -u) -eq 0 ]] && launcher+=(--allow-run-as-root)
      # shellcheck disable=SC2206
      launcher+=(${STARBENCH_MPIEXEC_FLAGS---bind-to core})
      ;;
    *) starbench_fail "STARBENCH_LAUNCHER=$STARBENCH_LAUNCHER is not srun or mpiexec" ;;
  esac
  echo "starbench job ${SLURM_JOB_ID:-local} on ${SLURM_JOB_NODELIST:-$(hostname)}: ${SLURM_NTASKS:-?} task(s)"
  echo "  config  $STARBENCH_CONFIG"
  echo "  output  $STARBENCH_OUTPUT"
  echo "  command ${launcher[*]} ${command[*]}"
  "${launcher[@]}" "${command[@]}"
}
