#!/usr/bin/env bash
# The job scripts without Slurm (tests/slurm/run_slurm_test.sh runs them on a real
# one): what jobs/lib/launch.sh would start (STARBENCH_DRY_RUN=1) for a given
# environment, and how jobs/local.sh binds ranks.
source "$(dirname "$0")/common.sh"
cd "$SOURCE_DIR"

# launch ENV... -- SCRIPT ARGS...: the dry run's output of SCRIPT with ENV, as a Slurm job would see it.
launch() {
  local -a environment=()
  while [[ $1 != -- ]]; do environment+=("$1"); shift; done
  shift
  env SLURM_JOB_ID=5150 SLURM_JOB_NAME=myjob SLURM_NTASKS=2 SLURM_CPUS_PER_TASK=4 STARBENCH_DRY_RUN=1 \
    STARBENCH_ROOT="$SOURCE_DIR" STARBENCH_BIN="$STARBENCH" STARBENCH_RESULTS_DIR="$WORK/results" \
    ${environment[@]+"${environment[@]}"} bash "$@" 2>&1
}
expect() {  # expect TEXT FRAGMENT DESCRIPTION
  grep -qF -- "$2" <<<"$1" || { echo "$1" >&2; fail "$3: no '$2'"; }
}

# Results named by job name, not id: a resubmitted job resumes its own file.
out=$(launch -- jobs/single_node.sbatch)
expect "$out" "output  $WORK/results/myjob.h5" "results name"
out=$(launch SLURM_ARRAY_JOB_ID=5150 SLURM_ARRAY_TASK_ID=3 -- jobs/block_size_array.sbatch)
expect "$out" "output  $WORK/results/myjob_3.h5" "array task results name"

# srun: ranks pick their GPU among all of the node's; CPU binding kept when a
# container is added through srun flags (pyxis) or a wrapper (Apptainer).
out=$(launch STARBENCH_SRUN_FLAGS=--container-image=nvcr.io/x/starbench -- jobs/single_node.sbatch)
expect "$out" "--cpu-bind=cores --gpu-bind=none --container-image=nvcr.io/x/starbench" "srun binding + pyxis"
out=$(launch STARBENCH_WRAPPER="apptainer exec --nv starbench.sif" STARBENCH_BIN=/opt/starbench/bin/starbench \
        -- jobs/multi_node.sbatch)
expect "$out" "--gpu-bind=none --cpus-per-task=4 apptainer exec --nv starbench.sif /opt/starbench/bin/starbench run" \
  "wrapper between launcher and binary (binary checked inside the image only)"

# The config as a script argument (either spelling), used instead of the default.
out=$(launch -- jobs/single_node.sbatch --config configs/smoke.toml --seq-len 64)
expect "$out" "config  $SOURCE_DIR/configs/smoke.toml" "config from --config FILE"
expect "$out" "--output $WORK/results/myjob.h5 --seq-len 64" "other arguments kept"
[[ $(grep -o -- "--config" <<<"$out" | wc -l) -eq 1 ]] || { echo "$out"; fail "--config passed twice"; }
out=$(launch -- jobs/run_1m.sbatch --config=configs/smoke.toml)
expect "$out" "config  $SOURCE_DIR/configs/smoke.toml" "config from --config=FILE"

# mpiexec: each rank bound to its cpus-per-task cores; NCCL settings reach remote ranks.
out=$(launch STARBENCH_LAUNCHER=mpiexec NCCL_SOCKET_IFNAME=ib0 NCCL_IB_HCA=mlx5_0 -- jobs/multi_node.sbatch)
expect "$out" "--map-by slot:PE=4 --bind-to core" "mpiexec binding"
expect "$out" "-x NCCL_SOCKET_IFNAME" "NCCL_SOCKET_IFNAME forwarded"
expect "$out" "-x NCCL_IB_HCA" "NCCL_IB_HCA forwarded"

# Environment modules before anything else (a stand-in `module` records the call).
eval "module() { echo \"module \$*\" >>'$WORK/modules.log'; }"
export -f module
out=$(launch STARBENCH_MODULES="cuda/12.4 openmpi/4.1" -- jobs/single_node.sbatch)
unset -f module
grep -qx "module load cuda/12.4 openmpi/4.1" "$WORK/modules.log" || fail "STARBENCH_MODULES not loaded"

# Every batch script can be requeued near its time limit, keeps its log, owns its nodes.
for script in jobs/*.sbatch; do
  for line in "--requeue" "--signal=B:USR1@" "--open-mode=append" "--exclusive"; do
    grep -q "^#SBATCH $line" "$script" || fail "$script lacks #SBATCH $line"
  done
done
echo "ok: launch.sh names, binding, containers, config argument, modules; sbatch headers"

# jobs/local.sh: a rank's OpenMP threads get cores of their own, not one shared core.
cores=$(getconf _NPROCESSORS_ONLN)
allowed=$(OMP_NUM_THREADS=2 jobs/local.sh 1 grep Cpus_allowed_list /proc/self/status | awk '{print $2}')
count=$("$PYTHON" -c "import sys; print(sum(int(b) - int(a) + 1 for a, _, b in (p.partition('-') if '-' in p else (p, '', p) for p in sys.argv[1].split(','))))" "$allowed")
want=$(( cores < 2 ? cores : 2 ))
[[ $count -ge $want ]] || fail "jobs/local.sh bound a rank with 2 OpenMP threads to $count CPU(s) ($allowed)"
echo "ok: jobs/local.sh gives a 2-thread rank $count CPUs ($allowed)"
