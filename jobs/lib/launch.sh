# shellcheck shell=bash
# Shared by the jobs/*.sbatch scripts (sourced, not run): where things are, the
# environment every rank needs, how ranks are started, and what happens at the
# time limit. Every setting is an environment variable so that a script runs
# unchanged on a GPU cluster and in the CPU test (tests/slurm/run_slurm_test.sh).
#
#   STARBENCH_ROOT         repository checkout (default: the sbatch submit dir)
#   STARBENCH_BIN          the binary (default: $STARBENCH_ROOT/build/starbench)
#   STARBENCH_CONFIG       experiment file (default: set by each script); a
#                          `--config FILE` script argument takes precedence
#   STARBENCH_RESULTS_DIR  where results files go (default: $STARBENCH_ROOT/results)
#   STARBENCH_OUTPUT       this job's results file (default: <dir>/<job name>.h5, array
#                          tasks <dir>/<job name>_<task id>.h5: a resubmission resumes)
#   STARBENCH_ARGS         more `starbench run` flags, appended (they override the config)
#   STARBENCH_MODULES      environment modules to load first (`module load $STARBENCH_MODULES`)
#   STARBENCH_WRAPPER      a command every rank runs starbench through, e.g.
#                          "apptainer exec --nv starbench.sif" (binding flags stay the launcher's)
#   STARBENCH_LAUNCHER     srun (default) or mpiexec
#   STARBENCH_MPIEXEC      the mpiexec command (default: mpiexec, e.g. mpiexec.mpich); Open MPI,
#                          MPICH/MVAPICH and Intel MPI are told apart by its --version (jobs/lib/mpi.sh)
#   STARBENCH_MPI_FLAVOUR  openmpi, mpich or intel: skips that detection
#   STARBENCH_SRUN_MPI     srun's --mpi plugin (default: pmix)
#   STARBENCH_SRUN_BIND    srun's binding (default: --cpu-bind=cores --gpu-bind=none)
#   STARBENCH_SRUN_FLAGS   more srun flags, e.g. pyxis' --container-image=... (default: none)
#   STARBENCH_MPIEXEC_BIND mpiexec's binding, in the launcher's own words (default: <cpus per task>
#                          cores per rank: Open MPI --map-by slot:PE=<n> --bind-to core, MPICH
#                          -bind-to core:<n>, Intel MPI I_MPI_PIN_DOMAIN=<n>:compact)
#   STARBENCH_MPIEXEC_FLAGS  more mpiexec flags (default: none)
#   STARBENCH_DRY_RUN=1    print the command instead of running it
set -euo pipefail
# shellcheck source=mpi.sh
source "$(dirname "${BASH_SOURCE[0]}")/mpi.sh"

starbench_fail() {
  echo "starbench job: error: $*" >&2
  exit 2
}

# sbatch runs a copy of the script from the spool directory, so the checkout
# is found from the submit directory, not from $0.
STARBENCH_ROOT=${STARBENCH_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
STARBENCH_BIN=${STARBENCH_BIN:-$STARBENCH_ROOT/build/starbench}
STARBENCH_RESULTS_DIR=${STARBENCH_RESULTS_DIR:-$STARBENCH_ROOT/results}
STARBENCH_LAUNCHER=${STARBENCH_LAUNCHER:-srun}
STARBENCH_SRUN_MPI=${STARBENCH_SRUN_MPI:-pmix}
STARBENCH_ARGS=${STARBENCH_ARGS:-}
STARBENCH_WRAPPER=${STARBENCH_WRAPPER:-}

# The experiment file as a script argument (sbatch jobs/single_node.sbatch --config
# configs/x.toml ...): taken out of the arguments, which are sourced-in here and so
# are the calling script's own.
starbench_script_args=()
while (($#)); do
  case $1 in
    --config) (($# >= 2)) || starbench_fail "--config needs a file"; STARBENCH_CONFIG=$2; shift 2 ;;
    --config=*) STARBENCH_CONFIG=${1#--config=}; shift ;;
    *) starbench_script_args+=("$1"); shift ;;
  esac
done
set -- ${starbench_script_args[@]+"${starbench_script_args[@]}"}
unset starbench_script_args

# Site setup: environment modules (Lmod or Environment Modules) before anything
# looks for the binary or MPI.
if [[ -n ${STARBENCH_MODULES:-} ]]; then
  if ! type module >/dev/null 2>&1; then
    for init in /etc/profile.d/lmod.sh /etc/profile.d/modules.sh /usr/share/lmod/lmod/init/bash \
                /usr/share/modules/init/bash; do
      # shellcheck disable=SC1090
      [[ -r $init ]] && { source "$init"; break; }
    done
  fi
  type module >/dev/null 2>&1 || starbench_fail "STARBENCH_MODULES is set but there is no 'module' command here"
  # shellcheck disable=SC2086  # several modules
  module load $STARBENCH_MODULES || starbench_fail "module load $STARBENCH_MODULES failed"
fi

# Inside a container the binary lives in the image: only its runner can check it.
if [[ -z $STARBENCH_WRAPPER && ${STARBENCH_SRUN_FLAGS:-} != *--container-image* ]]; then
  [[ -x $STARBENCH_BIN ]] || starbench_fail "no starbench binary at STARBENCH_BIN=$STARBENCH_BIN (build it, or set STARBENCH_BIN)"
fi
[[ -n ${STARBENCH_CONFIG:-} ]] || starbench_fail "STARBENCH_CONFIG is not set"
[[ $STARBENCH_CONFIG == /* ]] || STARBENCH_CONFIG=$STARBENCH_ROOT/$STARBENCH_CONFIG
[[ -r $STARBENCH_CONFIG ]] || starbench_fail "experiment file STARBENCH_CONFIG=$STARBENCH_CONFIG is not readable"
mkdir -p "$STARBENCH_RESULTS_DIR" || starbench_fail "cannot create STARBENCH_RESULTS_DIR=$STARBENCH_RESULTS_DIR"

# The results file is named by the job's name (and array task), not its id: a job
# that hit its time limit or was preempted and is resubmitted finds its own file
# and skips the runs it holds (resume). Jobs that share a name share the file;
# starbench serialises their commits, so none loses a run.
starbench_default_output() {
  local name=${SLURM_JOB_NAME:-starbench}
  [[ -n ${SLURM_ARRAY_TASK_ID:-} ]] && name=${name}_${SLURM_ARRAY_TASK_ID}
  echo "$STARBENCH_RESULTS_DIR/$name.h5"
}
STARBENCH_OUTPUT=${STARBENCH_OUTPUT:-$(starbench_default_output)}

# --- environment of every rank ---------------------------------------------------
# One rank per GPU; starbench picks its device from the node-local rank
# (SLURM_LOCALID / OMPI_COMM_WORLD_LOCAL_RANK) and refuses more ranks on a node
# than GPUs. Every rank sees all of the node's GPUs (srun --gpu-bind=none,
# CUDA_VISIBLE_DEVICES not narrowed per task), which keeps CUDA peer access
# (NVLink) between the ranks of a node possible for NCCL.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
# NVLink SHARP (multicast) off: it needs the fabric manager's multicast setup,
# and ring/star use point-to-point and small broadcasts that gain nothing from it.
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
# Warnings only; set NCCL_DEBUG=INFO to see the chosen transports (NVLink, IB, sockets).
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
# Multi-node: NCCL picks InfiniBand when present. NCCL_SOCKET_IFNAME (e.g. ib0,
# eth0), NCCL_IB_HCA (e.g. mlx5_0,mlx5_1), NCCL_IB_DISABLE=1 and the other NCCL_*
# settings of the submitting shell reach every rank (sbatch and srun export the
# environment; for Open MPI's mpiexec they are passed with -x below). Left to NCCL otherwise.
# A collective, MPI or NCCL, that waits longer than this ends the job with a
# message instead of hanging (long contexts need more than the default 600 s).
export STARBENCH_COLLECTIVE_TIMEOUT_S=${STARBENCH_COLLECTIVE_TIMEOUT_S:-1800}

# --- time limit, preemption, requeue -------------------------------------------------
# The scripts ask for --signal=B:USR1@300: five minutes before the time limit
# Slurm signals this shell, which requeues the job (same job id, same log with
# --open-mode=append, same results file). The run in progress is lost (every
# stored run is safe: commits are atomic) and the next start skips what is stored.
# A preempted job (PreemptMode=REQUEUE) comes back the same way; one that is
# cancelled or timed out without requeueing resumes when resubmitted.
starbench_requeue() {
  local job=${SLURM_JOB_ID:?}
  # Requeue only when this start stored something: a time limit so short that the
  # warning comes before the first run of a start is stored would requeue for ever.
  if [[ ! -e $STARBENCH_OUTPUT ]] || (( $(stat -c %Y "$STARBENCH_OUTPUT") < starbench_start_time )); then
    echo "starbench job $job: time limit near (USR1), but no run was stored since this start:" \
         "not requeueing (it would only repeat that run); give the job a longer --time" >&2
    return 0
  fi
  echo "starbench job $job: time limit near (USR1): requeueing; the next start resumes from $STARBENCH_OUTPUT"
  scontrol requeue "$job" ||
    echo "starbench job $job: scontrol requeue was refused (job not requeueable here?); resubmit it to resume" >&2
}

# Runs `starbench run` on every task of the allocation with the config, the
# output and any further flags.
starbench_launch() {
  local -a command=("$STARBENCH_BIN" run --config "$STARBENCH_CONFIG" --output "$STARBENCH_OUTPUT")
  # Word splitting of STARBENCH_ARGS / STARBENCH_WRAPPER / *_BIND / *_FLAGS is
  # intended: each holds several words.
  # shellcheck disable=SC2206
  command+=($STARBENCH_ARGS "$@")
  # shellcheck disable=SC2206
  [[ -n $STARBENCH_WRAPPER ]] && command=($STARBENCH_WRAPPER "${command[@]}")
  local -a launcher
  case $STARBENCH_LAUNCHER in
    srun)
      # One task per GPU as requested by the #SBATCH lines; PMIx wires up MPI.
      # Each rank may use every GPU of its node (it picks its own): --gpu-bind=none.
      # shellcheck disable=SC2206
      launcher=(srun --mpi="$STARBENCH_SRUN_MPI" --kill-on-bad-exit=1
                ${STARBENCH_SRUN_BIND---cpu-bind=cores --gpu-bind=none} ${STARBENCH_SRUN_FLAGS:-})
      # Since Slurm 22.05 srun no longer inherits sbatch's --cpus-per-task.
      [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && launcher+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
      ;;
    mpiexec)
      # Open MPI, MPICH (Hydra) and Intel MPI all read the Slurm allocation
      # themselves (no hostfile); for MPI builds whose PMIx does not match srun's.
      # Which MPI it is decides the flags (jobs/lib/mpi.sh).
      local mpiexec=${STARBENCH_MPIEXEC:-mpiexec} flavour per_rank=${SLURM_CPUS_PER_TASK:-1}
      flavour=$(starbench_mpi_flavour "$mpiexec") || starbench_fail "STARBENCH_LAUNCHER=mpiexec: see above"
      # Each rank bound to its own cpus-per-task cores, so its OpenMP threads
      # spread over them; STARBENCH_MPIEXEC_BIND replaces that with its own words.
      [[ -n ${STARBENCH_MPIEXEC_BIND+set} ]] && per_rank=given
      # mpiexec forwards the environment to ranks on other nodes only when named
      # (Open MPI: -x each; Hydra: all of it).
      local variable forwarded=""
      for variable in $(compgen -e); do
        case $variable in NCCL_* | STARBENCH_* | OMP_* | CUDA_* | UCX_* | FI_* | HDF5_*) forwarded+=" $variable" ;; esac
      done
      launcher=("$mpiexec")
      starbench_mpiexec_flags launcher "$flavour" "${SLURM_NTASKS:?the mpiexec launcher needs SLURM_NTASKS}" \
        "$per_rank" 0 "$forwarded" || starbench_fail "no mpiexec flags for $flavour"
      # shellcheck disable=SC2206
      [[ $per_rank == given ]] && launcher+=(${STARBENCH_MPIEXEC_BIND})
      # shellcheck disable=SC2206
      launcher+=(${STARBENCH_MPIEXEC_FLAGS:-})
      ;;
    *) starbench_fail "STARBENCH_LAUNCHER=$STARBENCH_LAUNCHER is not srun or mpiexec" ;;
  esac
  echo "starbench job ${SLURM_JOB_ID:-local} (start $((${SLURM_RESTART_COUNT:-0} + 1))) on" \
       "${SLURM_JOB_NODELIST:-$(hostname)}: ${SLURM_NTASKS:-?} task(s), $(date -u +%FT%TZ)"
  echo "  config  $STARBENCH_CONFIG"
  echo "  output  $STARBENCH_OUTPUT"
  echo "  command ${launcher[*]} ${command[*]}"
  [[ ${STARBENCH_DRY_RUN:-0} == 1 ]] && return 0
  # In the background: bash runs a trap only between commands, and `wait` is one
  # that a signal interrupts, while a foreground srun would hold the trap back
  # until the time limit had killed it.
  starbench_start_time=$(date +%s)
  "${launcher[@]}" "${command[@]}" &
  local step=$! status
  starbench_signalled=0
  [[ -n ${SLURM_JOB_ID:-} ]] && trap 'starbench_signalled=1; starbench_requeue' USR1
  while true; do
    starbench_signalled=0
    status=0
    wait "$step" || status=$?
    [[ $starbench_signalled == 1 ]] || break  # else the trap cut the wait short: wait again
  done
  return "$status"
}
