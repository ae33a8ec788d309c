#!/usr/bin/env bash
# starbench built against MPICH and run on 2 ranks by MPICH's launcher through
# jobs/local.sh: the job scripts and the build are not Open MPI-only.
#
#   tests/mpich/run_mpich_test.sh BUILD_DIR
#
# Debian installs both MPIs side by side (.ci/setup.sh) and points the plain
# names (mpicxx, mpiexec) at Open MPI, so MPICH is named explicitly:
# mpicxx.mpich for CMake's MPI_CXX_COMPILER, mpiexec.mpich for the launcher.
# The build is the binary alone (CUDA, SimGrid and the tests off), into its own
# BUILD_DIR; CMAKE_CXX_COMPILER_LAUNCHER (e.g. ccache) is passed on when set.
# Cost, measured without ccache on the 2-core development machine (commit 19eb45d, shared with
# other builds, load ~13): 795 s wall for the whole test (configure, build, run), 213 s user + 16 s
# system CPU, i.e. about 2 minutes of
# compiling on an idle 2-core CI machine; a rebuild after a change costs what the change touches.
# Exit: 0 pass, 1 fail, 77 skipped (MPICH not installed).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: tests/mpich/run_mpich_test.sh BUILD_DIR}
python=/usr/bin/python3
say() { echo "mpich test: $*"; }
fail() {
  echo "mpich test: FAIL: $*" >&2
  exit 1
}
compiler=$(command -v mpicxx.mpich || true)
launcher=$(command -v mpiexec.mpich || true)
if [[ -z $compiler || -z $launcher ]]; then
  say "SKIP: MPICH is not installed (Debian: apt-get install mpich libmpich-dev; .ci/setup.sh does)"
  exit 77
fi
say "$("$launcher" --version | sed -n 's/^ *Version: *//p' | head -n 1 | sed 's/^/MPICH /')"

configure=(cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSTARBENCH_CUDA=OFF -DSTARBENCH_SIMGRID=OFF
           -DSTARBENCH_TESTS=OFF -DSTARBENCH_UNITY=ON -DMPI_CXX_COMPILER="$compiler" -DMPIEXEC_EXECUTABLE="$launcher")
[[ -n ${CMAKE_CXX_COMPILER_LAUNCHER:-} ]] && configure+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$CMAKE_CXX_COMPILER_LAUNCHER")
"${configure[@]}" >"$build.configure.log" 2>&1 || { tail -n 30 "$build.configure.log" >&2; fail "cmake configure failed"; }
grep -q "^MPI_CXX_COMPILER:.*mpicxx.mpich" "$build/CMakeCache.txt" || fail "CMake did not take mpicxx.mpich"
start=$(date +%s)
cmake --build "$build" --target starbench -j "$(nproc)" >"$build.build.log" 2>&1 ||
  { tail -n 30 "$build.build.log" >&2; fail "build failed (log: $build.build.log)"; }
say "built $build/starbench in $(( $(date +%s) - start )) s ($(nproc) cores${CMAKE_CXX_COMPILER_LAUNCHER:+, $CMAKE_CXX_COMPILER_LAUNCHER})"

# Linked against MPICH's library, not Open MPI's.
libraries=$(ldd "$build/starbench")
grep -q "libmpich" <<<"$libraries" || fail "starbench is not linked against libmpich: $libraries"
grep -q "libmpi\.so" <<<"$libraries" && fail "starbench links Open MPI's libmpi too: $libraries"

# Two ranks through jobs/local.sh with MPICH's launcher. A launcher of the other
# MPI would start two 1-rank jobs: the records' world size tells.
work=$(mktemp -d "${TMPDIR:-/tmp}/starbench-mpich.XXXXXX")
trap 'rm -rf "$work"' EXIT
STARBENCH_MPIEXEC=$launcher OMP_NUM_THREADS=1 STARBENCH_COLLECTIVE_TIMEOUT_S=60 timeout -k 5 300 \
  "$repo/jobs/local.sh" 2 "$build/starbench" run --config "$repo/configs/smoke.toml" --method ring,star \
  --seq-len 64 --repeats 1 --output "$work/mpich.h5" >"$work/run.log" 2>&1 ||
  { cat "$work/run.log" >&2; fail "jobs/local.sh 2 $build/starbench run failed"; }
"$python" - "$work/mpich.h5" <<'PY' || fail "the results file is not what a 2-rank run writes"
import sys
import h5py
with h5py.File(sys.argv[1], "r") as handle:
    runs = [handle["runs"][name].attrs for name in handle["runs"]]
    found = sorted((str(run["method"]), int(run["world_size"])) for run in runs)
    layouts = {str(run.get("node_layout", "")) for run in runs}
print("mpich test: runs (method, ranks):", found, "node layout", layouts)
assert found == [("ring", 2), ("star", 2)], found
assert layouts == {"1x2"}, layouts
PY
say "PASS"
