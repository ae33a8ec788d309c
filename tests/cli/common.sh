# Shared by the CLI script tests: paths, mpiexec flags, a bounded runner.
set -euo pipefail
STARBENCH=${STARBENCH_BIN:?STARBENCH_BIN must point at the starbench binary}
SOURCE_DIR=${STARBENCH_SOURCE_DIR:?}
PYTHON=${STARBENCH_PYTHON:-/usr/bin/python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/starbench-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=1 STARBENCH_COLLECTIVE_TIMEOUT_S=60
MPI_FLAGS=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && MPI_FLAGS+=(--allow-run-as-root)

# mpirun N args...: starbench on N ranks, killed after 120 s (a hang is a failure).
mpirun() {
  local ranks=$1
  shift
  timeout -k 5 120 mpiexec "${MPI_FLAGS[@]}" -n "$ranks" "$STARBENCH" "$@"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
