#!/usr/bin/env bash
# The main build's MPI is Open MPI (its tests use Open MPI's mpiexec flags):
# installing MPICH beside it (.ci/setup.sh) must not have moved CMake onto MPICH.
#   tests/packaging/main_build_mpi.sh MPIEXEC_EXECUTABLE MPI_CXX_HEADER_DIR
set -euo pipefail
mpiexec=${1:?usage: main_build_mpi.sh MPIEXEC_EXECUTABLE MPI_CXX_HEADER_DIR} headers=${2:?}
echo "main build: mpiexec $mpiexec -> $(readlink -f "$mpiexec"), MPI headers $headers"
"$mpiexec" --version 2>&1 | grep -Eq "Open MPI|OpenRTE" ||
  { echo "FAIL: the main build's mpiexec is not Open MPI's: $("$mpiexec" --version 2>&1 | head -n 2)" >&2; exit 1; }
[[ $headers == *openmpi* ]] || { echo "FAIL: the main build compiles against $headers, not Open MPI" >&2; exit 1; }
for name in mpi mpirun; do
  update-alternatives --query "$name" 2>/dev/null | grep -E "^(Status|Value):" | sed "s/^/  $name: /" || true
done
echo "ok: the main build uses Open MPI"
