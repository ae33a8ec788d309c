#!/usr/bin/env bash
# Acceptance test of the Slurm scripts on a real Slurm: a one-node cluster
# (slurmctld + slurmd of Debian's slurm-wlm, no munge, no cgroups, no systemd)
# in a temporary directory, running configs/smoke.toml (tiny model, CPU backend,
# 2 tasks). It checks, on the HDF5 files the jobs write:
#   1. jobs/single_node.sbatch through srun --mpi=pmix and through mpiexec, runs
#      recorded with their job id, host and node layout;
#   2. the block-size job array resuming from a baseline, merged;
#   3. a requeue mid-sweep (the time-limit warning, USR1, sent by hand): the job
#      comes back under its id, resumes, and its log keeps the first start;
#   4. a job killed mid-sweep (as at a time limit) and resubmitted resumes from
#      its file (SLURM_TEST_REAL_TIMEOUT=1: a real 1-minute time limit instead);
#   5. more tasks on a node than GPUs refused on every rank (GPUs faked with
#      STARBENCH_FAKE_GPUS), no results file;
#   6. two nodes: two slurmd in their own network and UTS namespaces on this
#      machine, MPI over TCP between them (skipped, saying why, where namespaces
#      cannot be made).
# Needs root (slurmd starts job steps as their user).
#
#   tests/slurm/run_slurm_test.sh [STARBENCH_BIN]
#   env: STARBENCH_BIN (default build/starbench), SLURM_TEST_LAUNCHERS ("srun mpiexec"),
#        SLURM_TEST_KEEP=1 keeps the temporary directory, SLURM_TEST_REAL_TIMEOUT=1.
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
  for log in "$work"/slurmctld.log "$work"/slurmd*.log "$work"/job-*.out "$work"/two*; do
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

# --- a cluster in a temporary directory --------------------------------------------
work=$(mktemp -d /tmp/starbench-slurm.XXXXXX)
pids=()
namespaces=()
stop_daemons() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_daemons
  local ns
  for ns in ${namespaces[@]+"${namespaces[@]}"}; do ip netns delete "$ns" 2>/dev/null || true; done
  ip link delete sbtest-br0 2>/dev/null || true
  if [[ -n ${SLURM_TEST_KEEP:-} ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Free TCP ports, so that a Slurm already on this machine is not disturbed.
read -r ctld_port d_port < <("$python" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
node=$(hostname -s)
# 4 CPUs declared whatever the machine has (config_overrides): jobs of 2 tasks, and
# one of 3 tasks that must be refused by starbench, not by Slurm.
cpus=4
mkdir -p "$work"/state "$work"/spool "$work"/results "$work"/tmp

# write_config FILE CONTROLLER_ADDRESS NODE_LINES...: a cluster without munge,
# cgroups or accounting; per-node spool and tmp directories (%n) so that several
# slurmd can share this machine's file system.
write_config() {
  local file=$1 controller=$2
  shift 2
  cat >"$file" <<CONF
ClusterName=starbench-test
SlurmctldHost=$node($controller)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
# No munge in a container: auth/none (still shipped by Slurm 22.05) trusts the
# uid each client claims. Fine for a throw-away cluster on one machine only.
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$state_dir
SlurmdSpoolDir=$work/spool/%n
TmpFS=$work/tmp/%n
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd-%n.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd-%n.log
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
# Requeued jobs may start again at once.
JobRequeue=1
# Trust the CPU counts given here over the hardware.
SlurmdParameters=config_overrides
CONF
  printf '%s\n' "$@" >>"$file"
}

# wait_idle NODES...: until every node is idle, 30 s at most.
wait_idle() {
  local state="" pid
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$(IFS=,; echo "$*")" -o %T 2>/dev/null | sort -u | tr '\n' ' ')
    [[ $state == "idle " ]] && return 0
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { cat "$work"/*.out >&2; fail "a Slurm daemon exited"; }
    done
    sleep 0.5
  done
  fail "nodes $* did not become idle in 30 s (state: '${state:-none}')"
}

state_dir=$work/state
write_config "$work/slurm.conf" 127.0.0.1 \
  "NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN" \
  "PartitionName=test Nodes=$node Default=YES MaxTime=30 State=UP"
export SLURM_CONF=$work/slurm.conf
mkdir -p "$work/spool/$node" "$work/tmp/$node"
slurmctld -D -f "$SLURM_CONF" >"$work"/slurmctld.out 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$node" >"$work"/slurmd.out 2>&1 &
pids+=($!)
wait_idle "$node"
say "cluster up: node $node idle, $cpus CPUs, ports $ctld_port/$d_port"

# --- helpers for jobs ------------------------------------------------------------------
# The #SBATCH lines ask for GPUs and 4 tasks; the command lines below override
# them for this CPU-only node. task/none cannot bind CPUs; --gpu-bind=none stays.
job_env=(STARBENCH_ROOT="$repo" STARBENCH_BIN="$bin" STARBENCH_RESULTS_DIR="$work/results"
         STARBENCH_SRUN_BIND=--gpu-bind=none STARBENCH_MPIEXEC_BIND="--oversubscribe --bind-to none"
         STARBENCH_COLLECTIVE_TIMEOUT_S=120)
job_args=(--ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0 --time=10 --output="$work/job-%j.out")
# submit ENV... -- SBATCH ARGUMENTS...: prints the job id.
submit() {
  local -a environment=()
  while [[ $1 != -- ]]; do environment+=("$1"); shift; done
  shift
  env "${job_env[@]}" ${environment[@]+"${environment[@]}"} sbatch --parsable "$@" || fail "sbatch refused: $*"
}
job_field() { scontrol show job "$1" 2>/dev/null | grep -o " $2=[^ ]*" | head -n 1 | cut -d= -f2; }
# wait_ended JOB SECONDS: until the job is in a final state; prints it.
wait_ended() {
  local state
  for _ in $(seq $(($2 * 2))); do
    state=$(job_field "$1" JobState)
    case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) echo "$state"; return 0 ;; esac
    sleep 0.5
  done
  scontrol show job "$1" >&2 || true
  scancel "$1" || true
  fail "job $1 not finished after $2 s"
}
# wait_runs FILE COUNT SECONDS: until FILE holds at least COUNT runs.
wait_runs() {
  for _ in $(seq $(($3 * 5))); do
    [[ $(count_runs "$1") -ge $2 ]] && return 0
    sleep 0.2
  done
  fail "$1 did not reach $2 runs in $3 s"
}
count_runs() {
  "$python" -c "
import h5py, sys
try:
    print(len(h5py.File(sys.argv[1], 'r')['runs']))
except Exception:
    print(0)" "$1"
}
show_log() { sed 's/^/    | /' "$work/job-$1.out"; }

# --- 1. the job, once per launcher ------------------------------------------------------
check_results() {  # file, launcher, job id
  "$python" - "$1" "$2" "$3" "$(hostname)" "$repo/configs/smoke.toml" <<'PY'
import sys, tomllib
import h5py
path, launcher, job, host, config_path = sys.argv[1:]
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
        # Traceable: the job, its host and layout.
        if int(g.attrs.get("slurm_job_id", -1)) != int(job):
            errors.append(f"{g.name}: slurm_job_id {g.attrs.get('slurm_job_id')}, expected {job}")
        if text(g.attrs.get("slurm_job_name", "")) != f"smoke-{launcher}":
            errors.append(f"{g.name}: slurm_job_name {g.attrs.get('slurm_job_name')}")
        if text(g.attrs.get("hosts", "")) != host:
            errors.append(f"{g.name}: hosts {g.attrs.get('hosts')}, expected {host}")
        if text(g.attrs.get("node_layout", "")) != f"1x{want_ranks}" or int(g.attrs.get("ranks_per_node", -1)) != want_ranks:
            errors.append(f"{g.name}: node_layout {g.attrs.get('node_layout')}, ranks_per_node {g.attrs.get('ranks_per_node')}")
    if "index" not in f or f["index"].shape[0] != len(runs):
        errors.append("the /index table does not have one row per run")
if errors:
    print(f"{path} ({launcher}):", *errors, sep="\n  ")
    sys.exit(1)
print(f"{path}: {len(runs)} runs as configured, launcher {launcher}, recorded with job {job} on {host}")
PY
}

for launcher in $launchers; do
  output=$work/results/smoke-$launcher.h5
  job=$(submit STARBENCH_CONFIG=configs/smoke.toml STARBENCH_OUTPUT="$output" STARBENCH_LAUNCHER="$launcher" -- \
        --job-name="smoke-$launcher" "${job_args[@]}" "$repo/jobs/single_node.sbatch")
  say "submitted job $job (launcher $launcher)"
  job_state=$(wait_ended "$job" 120)
  exit_code=$(job_field "$job" ExitCode)
  say "job $job: state $job_state, exit code ${exit_code:-?}"
  show_log "$job"
  [[ $job_state == COMPLETED && $exit_code == 0:0 ]] || fail "job $job ended $job_state (exit ${exit_code:-?})"
  [[ -f $output ]] || fail "job $job completed but wrote no $output"
  check_results "$output" "$launcher" "$job" || fail "the results of job $job do not match configs/smoke.toml"
done

# --- 2. the block-size job array, resuming from a baseline, then merged ----------------
# Two array tasks (star blocks of 16 and 32 tokens) start from a copy of the
# first job's file: resume skips the stored global runs, star is still compared
# with them, and `analysis merge` keeps every run once. Each task writes
# <job name>_<task>.h5, the name a resubmitted array would resume.
baseline=$work/results/smoke-${launchers%% *}.h5
array=$(submit STARBENCH_CONFIG=configs/smoke.toml STARBENCH_BASELINE="$baseline" STARBENCH_BLOCK_SIZES="16 32" \
        STARBENCH_LAUNCHER="${launchers%% *}" -- \
        --array=0-1 --ntasks-per-node=2 --cpus-per-task=1 --gpus-per-node=0 --time=10 \
        --output="$work/job-%A_%a.out" "$repo/jobs/block_size_array.sbatch")
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
  job_state=$(job_field "${array}_$task" JobState)
  exit_code=$(job_field "${array}_$task" ExitCode)
  say "array task $task: state ${job_state:-?}, exit code ${exit_code:-?}"
  show_log "${array}_$task"
  [[ $job_state == COMPLETED && $exit_code == 0:0 ]] || fail "array task $task ended ${job_state:-?} (exit ${exit_code:-?})"
  [[ -f $work/results/starbench-blocks_$task.h5 ]] || fail "array task $task wrote no starbench-blocks_$task.h5"
done
merged=$work/results/merged.h5
PYTHONPATH=$repo "$python" -m analysis merge "$merged" "$baseline" "$work"/results/starbench-blocks_*.h5 ||
  fail "python3 -m analysis merge failed"
"$python" - "$merged" <<'PY' || fail "the merged block-size study is not as expected"
import sys
import h5py
def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)
with h5py.File(sys.argv[1]) as f:
    runs = [g for g in f["runs"].values() if int(g.attrs.get("complete", 0)) == 1]
    star = sorted((int(g.attrs["seq_len"]), int(g.attrs["block_size"]), text(g.attrs["block_rule"]))
                  for g in runs if text(g.attrs["method"]) == "star")
    # Baseline: star at context / 2 (C/ranks: 32 at 64, 64 at 128); the array adds fixed blocks
    # of 16 and 32, each a run of its own, also the fixed 32 at 64 where C/ranks is 32 too (issue
    # 20, item 16: another rule is another setting); global is resumed, not repeated.
    expected = [(64, 16, "fixed"), (64, 32, "C/ranks"), (64, 32, "fixed"), (128, 16, "fixed"), (128, 32, "fixed"),
                (128, 64, "C/ranks")]
    assert star == expected, f"star runs {star}, expected {expected}"
    assert len(runs) == 10, f"{len(runs)} runs, expected 10 (6 baseline + 4 star)"
    for g in runs:
        if text(g.attrs["method"]) == "star":
            assert "top1_vs_global" in g.attrs, f"{g.name}: star run without fidelity vs the resumed global run"
print(f"{sys.argv[1]}: 10 runs, star blocks {star}")
PY

# --- sweeps long enough to interrupt ---------------------------------------------------
# 8 lengths x 3 methods = 24 runs of about half a second each on 2 ranks.
long_lengths="--seq-len 256,320,384,448,512,576,640,704 --warmup 1"
long_args="$long_lengths --repeats 25"
long_runs=24
# check_resumed FILE JOBS...: the file holds every run once, written by the given job ids.
check_resumed() {
  "$python" - "$long_runs" "$@" <<'PY'
import collections, sys
import h5py
expected, path, jobs = int(sys.argv[1]), sys.argv[2], sorted(int(j) for j in sys.argv[3:])
with h5py.File(path) as f:
    runs = [g for g in f["runs"].values() if int(g.attrs.get("complete", 0)) == 1]
    keys = collections.Counter(g.attrs["params_key"] for g in runs)
    assert not [k for k, n in keys.items() if n > 1], "a run was stored twice"
    assert len(runs) == expected, f"{len(runs)} runs, expected {expected}"
    by_job = collections.Counter(int(g.attrs["slurm_job_id"]) for g in runs)
    restarts = collections.Counter(int(g.attrs.get("slurm_restart_count", 0)) for g in runs)
    assert sorted(by_job) == jobs, f"runs from jobs {dict(by_job)}, expected {jobs}"
print(f"{path}: {len(runs)} runs, none twice; by job {dict(by_job)}, by restart count {dict(restarts)}")
PY
}

# --- 3. requeue near the time limit --------------------------------------------------------
# Five minutes before the limit Slurm sends USR1 to the batch shell (--signal=B:USR1@300);
# the same signal, sent by hand once a few runs are stored, must requeue the job: it
# starts again under the same id, skips the stored runs, and appends to the log.
requeued=$work/results/requeue.h5
job=$(submit STARBENCH_CONFIG=configs/smoke.toml STARBENCH_OUTPUT="$requeued" STARBENCH_ARGS="$long_args" -- \
      --job-name=requeue "${job_args[@]}" "$repo/jobs/single_node.sbatch")
say "submitted job $job (requeue mid-sweep)"
wait_runs "$requeued" 3 120
scancel --batch --signal=USR1 "$job" || fail "scancel --batch --signal=USR1 $job failed"
say "sent USR1 to job $job after $(count_runs "$requeued") runs"
# The job ends its first start (SIGTERM to the step), then is requeued: pending
# again, under the same id, with one restart.
for _ in $(seq 240); do
  [[ $(job_field "$job" Restarts) -ge 1 && $(job_field "$job" JobState) =~ ^(PENDING|RUNNING)$ ]] && break
  sleep 0.25
done
[[ $(job_field "$job" Restarts) -ge 1 ]] ||
  fail "job $job was not requeued (state $(job_field "$job" JobState), Restarts=$(job_field "$job" Restarts))"
# Slurm holds a requeued job back for two minutes (its BeginTime); a few seconds
# will do here. (Not at once: slurmd refuses a credential issued in the same second
# as the old one was revoked, "Job credential revoked".)
scontrol update JobId="$job" StartTime=now+3 || true
job_state=$(wait_ended "$job" 180)
say "job $job: state $job_state after $(job_field "$job" Restarts) restart(s)"
show_log "$job"
[[ $job_state == COMPLETED ]] || fail "requeued job $job ended $job_state"
log=$work/job-$job.out
if ! grep -q "(start 1)" "$log" || ! grep -q "(start 2)" "$log"; then
  fail "the log of job $job does not keep both starts"
fi
grep -q "requeueing" "$log" || fail "the log of job $job does not say it requeued"
grep -q "already in .*: skipped" "$log" || fail "the second start of job $job skipped nothing"
check_resumed "$requeued" "$job" || fail "the requeued job's results are not as expected"

# --- 4. a job killed mid-sweep (time limit), resubmitted -------------------------------------
# Resubmitted under the same name it finds its results file (named by the job name,
# not the id) and resumes. A real time limit takes a minute or more (Slurm's limits
# are in minutes and checked every 30 s), so CI kills the job as the limit would
# (SIGTERM, then SIGKILL) with scancel; SLURM_TEST_REAL_TIMEOUT=1 waits for a real one.
resubmitted=$work/results/resubmit.h5
resubmit_args=$long_args
if [[ -n ${SLURM_TEST_REAL_TIMEOUT:-} ]]; then
  resubmit_args="$long_lengths --repeats 100"  # longer than the minute: the limit cuts it
  first=$(submit STARBENCH_CONFIG=configs/smoke.toml STARBENCH_ARGS="$resubmit_args" -- \
          --job-name=resubmit --no-requeue "${job_args[@]/--time=10/--time=1}" "$repo/jobs/single_node.sbatch")
  say "submitted job $first (1-minute time limit, not requeueable)"
  job_state=$(wait_ended "$first" 240)
  [[ $job_state == TIMEOUT ]] || fail "job $first ended $job_state, expected TIMEOUT"
else
  first=$(submit STARBENCH_CONFIG=configs/smoke.toml STARBENCH_ARGS="$long_args" -- \
          --job-name=resubmit "${job_args[@]}" "$repo/jobs/single_node.sbatch")
  say "submitted job $first (killed mid-sweep)"
  wait_runs "$resubmitted" 3 120
  scancel "$first"
  job_state=$(wait_ended "$first" 120)
fi
stored=$(count_runs "$resubmitted")
say "job $first ended $job_state with $stored of $long_runs runs stored"
show_log "$first"
(( stored > 0 && stored < long_runs )) || fail "job $first stored $stored runs: the test interrupts nothing"
second=$(submit STARBENCH_CONFIG=configs/smoke.toml STARBENCH_ARGS="$resubmit_args" -- \
         --job-name=resubmit "${job_args[@]}" "$repo/jobs/single_node.sbatch")
say "resubmitted as job $second"
job_state=$(wait_ended "$second" 180)
show_log "$second"
[[ $job_state == COMPLETED ]] || fail "resubmitted job $second ended $job_state"
[[ $(grep -c "already in .*: skipped" "$work/job-$second.out") -eq $stored ]] ||
  fail "the resubmitted job did not skip exactly the $stored stored runs"
check_resumed "$resubmitted" "$first" "$second" || fail "the resubmitted job's results are not as expected"

# --- 5. more tasks on a node than GPUs ---------------------------------------------------------
job=$(submit STARBENCH_CONFIG=configs/smoke.toml STARBENCH_OUTPUT="$work/results/too_many.h5" STARBENCH_FAKE_GPUS=2 \
      STARBENCH_ARGS="--backend cuda" -- \
      --job-name=too-many "${job_args[@]/--ntasks-per-node=2/--ntasks-per-node=3}" "$repo/jobs/single_node.sbatch")
job_state=$(wait_ended "$job" 120)
say "job $job (3 tasks, 2 GPUs): state $job_state"
show_log "$job"
[[ $job_state == FAILED ]] || fail "job $job with more tasks than GPUs ended $job_state"
grep -q "host $(hostname) runs 3 rank(s) (0, 1, 2) but sees 2 GPU(s)" "$work/job-$job.out" ||
  fail "job $job does not name the host, the ranks and the GPUs"
[[ ! -e $work/results/too_many.h5 ]] || fail "the refused job left a results file"

# --- 6. two nodes ------------------------------------------------------------------------
# Two slurmd, each in a network namespace (its own address on a bridge) and a UTS
# namespace (its own host name); slurmctld stays here. Jobs see one file system,
# like a cluster's shared one; MPI goes over TCP between the namespaces.
two_nodes() {
  command -v ip >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 >/dev/null 2>&1 || true
  local tool
  for tool in ip nsenter unshare; do
    command -v "$tool" >/dev/null || { echo "no '$tool' command here"; return 1; }
  done
  ip link add sbtest-br0 type bridge 2>/dev/null || { echo "cannot create a bridge (needs CAP_NET_ADMIN)"; return 1; }
  ip addr add 10.251.77.1/24 dev sbtest-br0 && ip link set sbtest-br0 up || return 1
  local i
  for i in 1 2; do
    ip netns add "sbtest-n$i" 2>/dev/null || { echo "cannot create a network namespace (needs CAP_SYS_ADMIN)"; return 1; }
    namespaces+=("sbtest-n$i")
    if ! { ip link add "sbtest-v$i" type veth peer name eth0 netns "sbtest-n$i" &&
           ip link set "sbtest-v$i" master sbtest-br0 up &&
           ip -n "sbtest-n$i" addr add "10.251.77.1$i/24" dev eth0 &&
           ip -n "sbtest-n$i" link set eth0 up && ip -n "sbtest-n$i" link set lo up; }; then
      echo "cannot wire the namespace sbtest-n$i"
      return 1
    fi
  done
  stop_daemons
  state_dir=$work/state2
  write_config "$work/slurm2.conf" 10.251.77.1 \
    "NodeName=sbnode1 NodeAddr=10.251.77.11 NodeHostname=sbnode1 CPUs=2 State=UNKNOWN" \
    "NodeName=sbnode2 NodeAddr=10.251.77.12 NodeHostname=sbnode2 CPUs=2 State=UNKNOWN" \
    "PartitionName=two Nodes=sbnode1,sbnode2 Default=YES MaxTime=30 State=UP"
  export SLURM_CONF=$work/slurm2.conf
  state_dir=$work/state2  # a new cluster: job ids start again (its logs are two-job-<id>.out)
  mkdir -p "$state_dir"
  slurmctld -D -f "$SLURM_CONF" >"$work"/slurmctld2.out 2>&1 &
  pids+=($!)
  for i in 1 2; do
    mkdir -p "$work/spool/sbnode$i" "$work/tmp/sbnode$i"
    # nsenter, not `ip netns exec`, which remounts /sys and hides the cgroup tree slurmd reads.
    nsenter --net="/run/netns/sbtest-n$i" unshare --uts \
      bash -c "hostname sbnode$i && exec slurmd -D -f '$SLURM_CONF' -N sbnode$i" >"$work/slurmd-sbnode$i.out" 2>&1 &
    pids+=($!)
  done
  wait_idle sbnode1 sbnode2
}
reason=""
two_nodes >"$work/two_nodes.log" 2>&1 || reason=$(tail -n 1 "$work/two_nodes.log")
if [[ -z $reason ]]; then
  say "two-node cluster up: sbnode1, sbnode2 (network namespaces, 10.251.77.0/24)"
  two=$work/results/two-nodes.h5
  job=$(submit STARBENCH_CONFIG=configs/smoke.toml STARBENCH_OUTPUT="$two" OMPI_MCA_btl=self,tcp -- \
        --job-name=two-nodes --nodes=2 --ntasks-per-node=1 --cpus-per-task=1 --gpus-per-node=0 --time=10 \
        --output="$work/two-job-%j.out" "$repo/jobs/multi_node.sbatch")
  job_state=$(wait_ended "$job" 120)
  say "job $job (2 nodes x 1 task): state $job_state"
  sed 's/^/    | /' "$work/two-job-$job.out"
  [[ $job_state == COMPLETED ]] || fail "two-node job $job ended $job_state"
  "$python" - "$two" "$job" <<'PY' || fail "the two-node job's records are not as expected"
import sys
import h5py
path, job = sys.argv[1], int(sys.argv[2])
with h5py.File(path) as f:
    runs = list(f["runs"].values())
    assert len(runs) == 6, f"{len(runs)} runs"
    for g in runs:
        spread = g.attrs["method"] != "global"
        want = ("sbnode1,sbnode2", "2x1", 2) if spread else ("sbnode1", "1x1", 1)
        got = (g.attrs["hosts"], g.attrs["node_layout"], int(g.attrs["node_count"]))
        assert got == want, f"{g.name} {g.attrs['method']}: {got}, expected {want}"
        assert int(g.attrs["slurm_job_id"]) == job
        if g.attrs["method"] == "ring":
            assert g.attrs["top1_vs_global"] == 1.0, "ring across nodes differs from global"
print(f"{path}: 6 runs; ring and star on sbnode1,sbnode2 (2x1), global on sbnode1")
PY
else
  say "SKIP two nodes: $reason"
fi
say "PASS ($launchers, block-size array, merge, requeue, resubmission, tasks > GPUs refused, two nodes: $([[ -z $reason ]] && echo yes || echo "skipped: $reason"))"
