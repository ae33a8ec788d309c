#!/usr/bin/env bash
# jobs/local.sh and jobs/lib/launch.sh under each MPI (jobs/lib/mpi.sh): stand-in
# launchers that answer --version as Open MPI 4 and 5, MPICH, MVAPICH and Intel MPI
# do, and the flags each is given (dry runs); then real 2-rank launches with every
# MPI installed here (Debian's Open MPI and MPICH: mpiexec.openmpi, mpiexec.mpich),
# each rank on a core of its own.
source "$(dirname "$0")/common.sh"
cd "$SOURCE_DIR"

expect() {  # expect TEXT FRAGMENT DESCRIPTION
  grep -qF -- "$2" <<<"$1" || { echo "$1" >&2; fail "$3: no '$2'"; }
}
refuse() {  # refuse TEXT FRAGMENT DESCRIPTION
  if grep -qF -- "$2" <<<"$1"; then echo "$1" >&2; fail "$3: has '$2'"; fi
}

# fake NAME VERSION-TEXT: a launcher that prints VERSION-TEXT for --version.
mkdir -p "$WORK/bin"
fake() {
  printf '#!/usr/bin/env bash\n[[ $1 == --version ]] && { printf "%%s\\n" "%s"; exit 0; }\necho "launched: $*"\n' \
    "$2" >"$WORK/bin/$1"
  chmod +x "$WORK/bin/$1"
}
fake ompi4 "mpiexec (OpenRTE) 4.1.4"
fake ompi5 "mpiexec (Open MPI) 5.0.3"
fake hydra "HYDRA build details:"
fake mvapich "HYDRA build details: MVAPICH2 2.3.7"
fake impi "Intel(R) MPI Library for Linux* OS, Version 2021.10 Build 20230619 (id: c2e19c2f3e)"
fake other "some launcher 1.0"

local_dry() {  # local_dry LAUNCHER ENV...: jobs/local.sh 2's command for LAUNCHER
  local launcher=$1
  shift
  env OMP_NUM_THREADS=1 STARBENCH_DRY_RUN=1 STARBENCH_MPIEXEC="$WORK/bin/$launcher" "$@" \
    bash jobs/local.sh 2 build/starbench run 2>&1
}
for launcher in ompi4 ompi5; do
  out=$(local_dry $launcher)
  expect "$out" "-n 2 --oversubscribe" "$launcher: local ranks may outnumber cores"
  if (( 2 <= $(getconf _NPROCESSORS_ONLN) )); then
    expect "$out" "--map-by slot:PE=1 --bind-to core" "$launcher: a core per rank"
  fi
done
for launcher in hydra mvapich; do
  out=$(local_dry $launcher)
  expect "$out" "-n 2" "$launcher: ranks"
  expect "$out" "-genvall" "$launcher: environment"
  refuse "$out" "--oversubscribe" "$launcher: Open MPI flag"
  refuse "$out" "--map-by" "$launcher: Open MPI flag"
  (( 2 <= $(getconf _NPROCESSORS_ONLN) )) && expect "$out" "-bind-to core:1" "$launcher: a core per rank"
done
out=$(local_dry impi)
expect "$out" "-genv I_MPI_PIN_DOMAIN 1:compact" "Intel MPI: a core per rank"
refuse "$out" "-bind-to" "Intel MPI: Hydra binding flag"
# More threads than cores: no binding, in each MPI's words.
many=$(( $(getconf _NPROCESSORS_ONLN) + 1 ))
expect "$(local_dry ompi4 OMP_NUM_THREADS=$many)" "--bind-to none" "Open MPI: no binding"
expect "$(local_dry hydra OMP_NUM_THREADS=$many)" "-bind-to none" "MPICH: no binding"
expect "$(local_dry impi OMP_NUM_THREADS=$many)" "-genv I_MPI_PIN off" "Intel MPI: no binding"
# The user's own binding words replace the choice; the flavour can be named.
out=$(local_dry hydra STARBENCH_MPIEXEC_BIND="-bind-to numa")
expect "$out" "-genvall -bind-to numa build/starbench" "MPICH: STARBENCH_MPIEXEC_BIND"
refuse "$out" "core:" "MPICH: STARBENCH_MPIEXEC_BIND replaces the binding"
expect "$(local_dry other STARBENCH_MPI_FLAVOUR=mpich)" "-bind-to" "STARBENCH_MPI_FLAVOUR"
# An MPI it cannot tell: a message that says what to set, no launch.
out=$(local_dry other) && fail "an unknown launcher was used: $out"
expect "$out" "STARBENCH_MPI_FLAVOUR" "unknown launcher: the way out"
expect "$out" "some launcher 1.0" "unknown launcher: what it said"
out=$(local_dry missing-mpiexec) && fail "a missing launcher was used"
expect "$out" "no MPI launcher" "missing launcher"
echo "ok: jobs/local.sh flags for Open MPI 4/5, MPICH, MVAPICH, Intel MPI; unknown and missing launchers refused"

# launch.sh's mpiexec path (Slurm allocation, cpus-per-task 4, NCCL settings forwarded).
launch_dry() {  # launch_dry LAUNCHER: the sbatch script's command for LAUNCHER
  env SLURM_JOB_ID=5150 SLURM_JOB_NAME=myjob SLURM_NTASKS=8 SLURM_CPUS_PER_TASK=4 STARBENCH_DRY_RUN=1 \
    STARBENCH_ROOT="$SOURCE_DIR" STARBENCH_BIN="$STARBENCH" STARBENCH_RESULTS_DIR="$WORK/results" \
    STARBENCH_LAUNCHER=mpiexec STARBENCH_MPIEXEC="$WORK/bin/$1" NCCL_SOCKET_IFNAME=ib0 \
    bash jobs/multi_node.sbatch 2>&1
}
out=$(launch_dry ompi4)
expect "$out" "command $WORK/bin/ompi4 -n 8" "Open MPI: ranks"
expect "$out" "--map-by slot:PE=4 --bind-to core" "Open MPI: cpus-per-task cores"
expect "$out" "-x NCCL_SOCKET_IFNAME" "Open MPI: NCCL settings forwarded"
refuse "$out" "--oversubscribe" "Open MPI in an allocation"
out=$(launch_dry hydra)
expect "$out" "command $WORK/bin/hydra -n 8 -bind-to core:4 -genvall" "MPICH: cpus-per-task cores, environment"
refuse "$out" " -x " "MPICH: Open MPI flag"
out=$(launch_dry impi)
expect "$out" "-genv I_MPI_PIN_DOMAIN 4:compact -genvall" "Intel MPI: cpus-per-task cores"
out=$(launch_dry other) && fail "launch.sh used an unknown launcher"
expect "$out" "STARBENCH_MPI_FLAVOUR" "launch.sh: unknown launcher"
echo "ok: launch.sh's mpiexec flags for Open MPI, MPICH, Intel MPI"

# Real launches: 2 ranks, each with a core of its own (when there are 2), under
# every MPI installed here.
cores=$(getconf _NPROCESSORS_ONLN)
tried=0
for launcher in mpiexec.openmpi mpiexec.mpich; do
  command -v $launcher >/dev/null || { echo "skip: no $launcher"; continue; }
  tried=$((tried + 1))
  out=$(STARBENCH_MPIEXEC=$launcher OMP_NUM_THREADS=1 timeout -k 5 60 jobs/local.sh 2 \
          grep Cpus_allowed_list /proc/self/status) || fail "$launcher: jobs/local.sh 2 failed: $out"
  [[ $(grep -c Cpus_allowed_list <<<"$out") -eq 2 ]] || fail "$launcher: not 2 ranks: $out"
  if (( cores >= 2 )); then
    distinct=$(awk '{print $2}' <<<"$out" | sort -u | wc -l)
    [[ $distinct -eq 2 ]] || fail "$launcher: the 2 ranks share their CPUs: $out"
  fi
  echo "ok: $launcher: jobs/local.sh 2 started 2 ranks ($(awk '{print $2}' <<<"$out" | paste -sd' '))"
done
(( tried > 0 )) || fail "neither mpiexec.openmpi nor mpiexec.mpich is installed"
