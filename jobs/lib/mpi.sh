# shellcheck shell=bash
# Which MPI an mpiexec belongs to, and its flags for what the job scripts need
# (sourced by jobs/local.sh and jobs/lib/launch.sh). The MPIs disagree on every
# one of them:
#
#   need                      Open MPI                    MPICH / MVAPICH (Hydra)   Intel MPI (Hydra)
#   ranks                     -n N                        -n N                      -n N
#   C cores per rank          --map-by slot:PE=C          -bind-to core:C           -genv I_MPI_PIN_DOMAIN C:compact
#                             --bind-to core
#   no binding                --bind-to none              -bind-to none             -genv I_MPI_PIN off
#   more ranks than cores     --oversubscribe             (allowed)                 (allowed)
#   run as root               --allow-run-as-root         (allowed)                 (allowed)
#   environment to all ranks  -x VAR for each             -genvall (all of it)      -genvall
#
# Cray MPICH has no mpiexec of its own to speak of: use srun (STARBENCH_LAUNCHER=srun,
# the sbatch scripts' default).
#
#   STARBENCH_MPIEXEC        the launcher command (default: mpiexec), e.g. mpiexec.mpich
#   STARBENCH_MPI_FLAVOUR    openmpi, mpich or intel: skips the detection

# Prints openmpi, mpich or intel for the launcher $1, from its --version output
# (or STARBENCH_MPI_FLAVOUR); fails with a message naming what it saw.
starbench_mpi_flavour() {
  local launcher=$1 version
  if [[ -n ${STARBENCH_MPI_FLAVOUR:-} ]]; then
    case $STARBENCH_MPI_FLAVOUR in
      openmpi | mpich | intel) echo "$STARBENCH_MPI_FLAVOUR"; return 0 ;;
      *) echo "STARBENCH_MPI_FLAVOUR=$STARBENCH_MPI_FLAVOUR is not openmpi, mpich or intel" >&2; return 1 ;;
    esac
  fi
  if ! command -v "$launcher" >/dev/null 2>&1; then
    echo "no MPI launcher '$launcher' on PATH (set STARBENCH_MPIEXEC, or load the MPI module)" >&2
    return 1
  fi
  version=$("$launcher" --version 2>&1 </dev/null || true)
  case $version in
    # Intel's mpiexec is Hydra too: look for its name first.
    *"Intel(R) MPI"*) echo intel ;;
    *"Open MPI"* | *OpenRTE*) echo openmpi ;;
    *HYDRA* | *MPICH* | *MVAPICH*) echo mpich ;;
    *)
      echo "cannot tell which MPI '$launcher' belongs to from its --version output" \
           "('${version%%$'\n'*}'); set STARBENCH_MPI_FLAVOUR=openmpi, mpich or intel" >&2
      return 1 ;;
  esac
}

# Appends to the array named $1 the flags of MPI flavour $2 for $3 ranks,
# $4 cores per rank ("none": no binding; "given": no binding flags, the caller
# adds its own), $5 = 1 to allow more ranks than cores.
# The environment flags take the variables named by the words of $6 (Open MPI's
# -x; Hydra forwards all of it).
starbench_mpiexec_flags() {
  local -n starbench_flags_out=$1
  local flavour=$2 ranks=$3 cores=$4 oversubscribe=$5 variables=$6 variable
  starbench_flags_out+=(-n "$ranks")
  case $flavour in
    openmpi)
      ((oversubscribe)) && starbench_flags_out+=(--oversubscribe)
      [[ $(id -u) -eq 0 ]] && starbench_flags_out+=(--allow-run-as-root)
      if [[ $cores == given ]]; then
        :
      elif [[ $cores == none ]]; then
        starbench_flags_out+=(--bind-to none)
      else
        # PE=C: each rank gets C cores for its OpenMP threads (plain --bind-to core
        # would stack them all on one core).
        starbench_flags_out+=(--map-by "slot:PE=$cores" --bind-to core)
      fi
      for variable in $variables; do starbench_flags_out+=(-x "$variable"); done
      ;;
    mpich)
      if [[ $cores == given ]]; then
        :
      elif [[ $cores == none ]]; then
        starbench_flags_out+=(-bind-to none)
      else
        starbench_flags_out+=(-bind-to "core:$cores")
      fi
      starbench_flags_out+=(-genvall)
      ;;
    intel)
      if [[ $cores == given ]]; then
        :
      elif [[ $cores == none ]]; then
        starbench_flags_out+=(-genv I_MPI_PIN off)
      else
        starbench_flags_out+=(-genv I_MPI_PIN_DOMAIN "$cores:compact")
      fi
      starbench_flags_out+=(-genvall)
      ;;
    *) echo "unknown MPI flavour '$flavour'" >&2; return 1 ;;
  esac
}
