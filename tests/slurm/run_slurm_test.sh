#!/usr/bin/env bash
# Acceptance test of jobs/single_node.sbatch on a real Slurm: a one-node cluster
# (slurmctld + slurmd of Debian's slurm-wlm, no munge, no cgroups, no systemd)
# in a temporary directory; the job runs configs/smoke.toml (tiny model, CPU
# backend, 2 tasks); the test checks the HDF5 file the job wrote and stops the
# daemons. Needs root (slurmd starts job steps as their user).
#
#   tests/slurm/run_slurm_test.sh [STARBENCH_BIN]
#   env: STARBENCH_BIN (default build/starbench), SLURM_TEST_LAUNCHERS ("srun mpiexec"),
#        SLURM_TEST_KEEP=1 keeps the temporary directory.
# Exit: 0 pass, 1 fail (with the reason and the daemon/job logs), 77 skipped
# (only when the starbench binary is absent).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-${STARBENCH_BIN:-$repo/build/starbench}}
[[ $bin == /* ]] || bin=$repo/$bin
launchers=${SLURM_TEST_LAUNCHERS:-srun mpiexec}
python=/usr/bin/python3

say() { echo "slurm test: $*"; }
fail() {
  echo "slurm test: FAIL: $*" >&2
  dump_logs
  exit 1
}
dump_logs() {
  [[ -n ${work:-} && -d ${work:-} ]] || return 0
  local log
  for log in "$work"/slurmctld.log "$work"/slurmd.log "$work"/job-*.out; do
    [[ -f $log ]] || continue
    echo "----- $log (last 40 lines)" >&2
    tail -n 40 "$log" >&2
  done
}

if [[ ! -x $bin ]]; then
  say "SKIP: no starbench binary at $bin (build the 'starbench' target first)"
  exit 77
fi
[[ $(id -u) -eq 0 ]] || fail "must run as root: slurmd runs as root (SlurmdUser=root) to start job steps"

# --- Slurm itself -----------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
  say "installing Debian's slurm-wlm (slurmctld slurmd slurm-client)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get install -y --no-install-recommends slurmctld slurmd slurm-client >/tmp/slurm-test-apt.log 2>&1 ||
         { apt-get update >>/tmp/slurm-test-apt.log 2>&1 &&
           apt-get install -y --no-install-recommends slurmctld slurmd slurm-client >>/tmp/slurm-test-apt.log 2>&1; }; }; then
    tail -n 20 /tmp/slurm-test-apt.log >&2
    fail "could not install slurm-wlm with apt-get (log: /tmp/slurm-test-apt.log)"
  fi
fi
plugin_dir=$(dirname "$(find /usr/lib /usr/lib64 -name auth_none.so -path '*slurm*' 2>/dev/null | head -n 1)")
[[ -f $plugin_dir/auth_none.so ]] ||
  fail "this Slurm has no auth/none plugin ($(slurmctld -V)); the test would need munge"
say "$(slurmctld -V), plugins in $plugin_dir"

# --- a one-node cluster in a temporary directory ---------------------------------
work=$(mktemp -d /tmp/starbench-slurm.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n ${SLURM_TEST_KEEP:-} ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Two free TCP ports, so that a Slurm already on this machine is not disturbed;
# the node is reached on 127.0.0.1 whether or not its host name resolves.
read -r ctld_port d_port < <("$python" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
node=$(hostname -s)
cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc: it obeys OMP_NUM_THREADS, which ctest sets to 1
# The job has 2 tasks: a 1-CPU machine is declared with 2 (config_overrides below).
(( cpus >= 2 )) || cpus=2
mkdir -p "$work"/state "$work"/spool "$work"/results
cat >"$work"/slurm.conf <<CONF
ClusterName=starbench-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
# No munge in a container: auth/none (still shipped by Slurm 22.05) trusts the
# uid each client claims. Fine for a throw-away cluster on one machine only.
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
# No cgroups or systemd here: processes tracked by parent pid, no task binding,
# no accounting.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=600
# Trust the CPU count given here over the hardware (a 1-CPU machine still runs 2 tasks).
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=30 State=UP
CONF
export SLURM_CONF=$work/slurm.conf

slurmctld -D -f "$SLURM_CONF" >"$work"/slurmctld.out 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$node" >"$work"/slurmd.out 2>&1 &
pids+=($!)

state=""
for _ in $(seq 60); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  [[ $state == idle ]] && break
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work"/slurmctld.out "$work"/slurmd.out >&2; fail "a Slurm daemon exited"; }
  done
  sleep 0.5
done
[[ $state == idle ]] || fail "node $node did not become idle in 30 s (state: '${state:-none}')"
say "cluster up: node $node idle, $cpus CPUs, ports $ctld_port/$d_port"

# --- the job, once per launcher ------------------------------------------------------
check_results() {  # file, launcher
  "$python" - "$1" "$2" "$repo/configs/smoke.toml" <<'PY'
import sys, tomllib
import h5py
path, launcher, config_path = sys.argv[1:]
with open(config_path, "rb") as handle:
    config = tomllib.load(handle)
def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)
errors = []
with h5py.File(path, "r") as f:
    runs = [g for g in f["runs"].values() if int(g.attrs.get("complete", 0)) == 1]
    seen = sorted((text(g.attrs["method"]), int(g.attrs["seq_len"])) for g in runs)
    expected = sorted((m, n) for m in config["method"] for n in config["seq-len"])
    if seen != expected:
        errors.append(f"runs {seen}, expected {expected} (methods x lengths of configs/smoke.toml)")
    for g in runs:
        method = text(g.attrs["method"])
        if text(g.attrs["backend"]) != "cpu":
            errors.append(f"{g.name}: backend {text(g.attrs['backend'])}")
        if text(g.attrs["model"]).lower().find("tiny") < 0:
            errors.append(f"{g.name}: model {text(g.attrs['model'])}, expected the tiny preset")
        want_ranks = 1 if method == "global" else 2
        if int(g.attrs["world_size"]) != want_ranks:
            errors.append(f"{g.name}: {method} world_size {int(g.attrs['world_size'])}, expected {want_ranks}")
        shape = g["timing/context_ms"].shape
        if shape != (config["repeats"], want_ranks):
            errors.append(f"{g.name}: timing/context_ms shape {shape}, expected ({config['repeats']}, {want_ranks})")
        if not float(g.attrs["context_ms"]) > 0:
            errors.append(f"{g.name}: context_ms {float(g.attrs['context_ms'])}")
        if method == "ring" and not float(g.attrs.get("top1_vs_global", -1)) == 1.0:
            errors.append(f"{g.name}: ring top1_vs_global {g.attrs.get('top1_vs_global')}, expected 1 (ring is exact)")
    if "index" not in f or f["index"].shape[0] != len(runs):
        errors.append("the /index table does not have one row per run")
if errors:
    print(f"{path} ({launcher}):", *errors, sep="\n  ")
    sys.exit(1)
print(f"{path}: {len(runs)} runs as configured, launcher {launcher}")
PY
}

for launcher in $launchers; do
  output=$work/results/smoke-$launcher.h5
  # The #SBATCH lines ask for GPUs and 4 tasks; the command line overrides them
  # for this CPU-only node. task/none cannot bind CPUs.
  job=$(STARBENCH_ROOT=$repo STARBENCH_BIN=$bin STARBENCH_CONFIG=configs/smoke.toml \
        STARBENCH_OUTPUT=$output STARBENCH_RESULTS_DIR=$work/results STARBENCH_LAUNCHER=$launcher \
        STARBENCH_SRUN_FLAGS="" STARBENCH_MPIEXEC_FLAGS="--oversubscribe --bind-to none" \
        STARBENCH_COLLECTIVE_TIMEOUT_S=120 \
        sbatch --parsable --job-name="smoke-$launcher" --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0 \
               --time=10 --output="$work/job-%j.out" "$repo/jobs/single_node.sbatch") ||
    fail "sbatch refused jobs/single_node.sbatch"
  say "submitted job $job (launcher $launcher)"
  for _ in $(seq 240); do
    [[ -z $(squeue -h -j "$job" 2>/dev/null) ]] && break
    sleep 0.5
  done
  if [[ -n $(squeue -h -j "$job" 2>/dev/null) ]]; then
    squeue -j "$job" -o "%i %T %M %R" >&2 || true
    scancel "$job" || true
    fail "job $job not finished after 120 s"
  fi
  info=$(scontrol show job "$job" 2>/dev/null || true)
  job_state=$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2)
  exit_code=$(grep -o ' ExitCode=[0-9:]*' <<<"$info" | cut -d= -f2)
  say "job $job: state ${job_state:-?}, exit code ${exit_code:-?}"
  sed 's/^/    | /' "$work/job-$job.out"
  [[ $job_state == COMPLETED && $exit_code == 0:0 ]] || fail "job $job ended ${job_state:-?} (exit ${exit_code:-?})"
  [[ -f $output ]] || fail "job $job completed but wrote no $output"
  check_results "$output" "$launcher" || fail "the results of job $job do not match configs/smoke.toml"
done
# --- the block-size job array, resuming from a baseline, then merged ----------------
# Two array tasks (star blocks of 16 and 32 tokens) start from a copy of the
# first job's file: resume skips the stored global runs, star is still compared
# with them, and `analysis merge` keeps every run once.
baseline=$work/results/smoke-${launchers%% *}.h5
array=$(STARBENCH_ROOT=$repo STARBENCH_BIN=$bin STARBENCH_CONFIG=configs/smoke.toml \
        STARBENCH_RESULTS_DIR=$work/results STARBENCH_BASELINE=$baseline STARBENCH_BLOCK_SIZES="16 32" \
        STARBENCH_LAUNCHER=${launchers%% *} STARBENCH_SRUN_FLAGS="" \
        STARBENCH_MPIEXEC_FLAGS="--oversubscribe --bind-to none" STARBENCH_COLLECTIVE_TIMEOUT_S=120 \
        sbatch --parsable --array=0-1 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0 --time=10 \
               --output="$work/job-%A_%a.out" "$repo/jobs/block_size_array.sbatch") ||
  fail "sbatch refused jobs/block_size_array.sbatch"
say "submitted array job $array (blocks 16 and 32)"
for _ in $(seq 240); do
  [[ -z $(squeue -h -j "$array" 2>/dev/null) ]] && break
  sleep 0.5
done
if [[ -n $(squeue -h -j "$array" 2>/dev/null) ]]; then
  squeue -j "$array" -o "%i %T %M %R" >&2 || true
  scancel "$array" || true
  fail "array job $array not finished after 120 s"
fi
for task in 0 1; do
  info=$(scontrol show job "${array}_$task" 2>/dev/null || true)
  job_state=$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2)
  exit_code=$(grep -o ' ExitCode=[0-9:]*' <<<"$info" | cut -d= -f2)
  say "array task $task: state ${job_state:-?}, exit code ${exit_code:-?}"
  sed 's/^/    | /' "$work/job-${array}_$task.out"
  [[ $job_state == COMPLETED && $exit_code == 0:0 ]] || fail "array task $task ended ${job_state:-?} (exit ${exit_code:-?})"
done
merged=$work/results/merged.h5
PYTHONPATH=$repo "$python" -m analysis merge "$merged" "$baseline" "$work"/results/starbench-blocks-"$array"_*.h5 ||
  fail "python3 -m analysis merge failed"
"$python" - "$merged" <<'PY' || fail "the merged block-size study is not as expected"
import sys
import h5py
def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)
with h5py.File(sys.argv[1]) as f:
    runs = [g for g in f["runs"].values() if int(g.attrs.get("complete", 0)) == 1]
    star = sorted((int(g.attrs["seq_len"]), int(g.attrs["block_size"])) for g in runs if text(g.attrs["method"]) == "star")
    # Baseline: star at context / 2 (32 at 64, 64 at 128); the array adds blocks 16 and 32
    # (32 at 64 is the baseline's run: resumed, not repeated).
    expected = [(64, 16), (64, 32), (128, 16), (128, 32), (128, 64)]
    assert star == expected, f"star runs {star}, expected {expected}"
    assert len(runs) == 9, f"{len(runs)} runs, expected 9 (6 baseline + 3 star)"
    for g in runs:
        if text(g.attrs["method"]) == "star":
            assert "top1_vs_global" in g.attrs, f"{g.name}: star run without fidelity vs the resumed global run"
print(f"{sys.argv[1]}: 9 runs, star blocks {star}")
PY
say "PASS ($launchers, block-size array, merge)"
