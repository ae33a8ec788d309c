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

# written LOG: the "N run(s) written" count of a sweep's table.
written() { grep -o "^[0-9]* run(s) written" "$1" | grep -o "^[0-9]*"; }
expect_written() {  # expect_written LOG N WHAT
  local got
  got=$(written "$1")
  [[ $got == "$2" ]] || { cat "$1" >&2; fail "$3: $got run(s) written, expected $2"; }
  echo "ok: $3 ($2 written)"
}
