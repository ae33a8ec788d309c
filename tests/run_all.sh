#!/usr/bin/env bash
# Builds starbench and runs every test (GoogleTest, MPI tests under mpiexec,
# CLI and Slurm script tests, pytest for analysis/, the build checks) through
# ctest; then a CPU build under AddressSanitizer + UndefinedBehaviorSanitizer
# of the unit and MPI tests alone, and those tests. This is what CI runs.
#   STARBENCH_BUILD_DIR (default build), STARBENCH_SANITIZE_BUILD_DIR (default
#   build-sanitize); STARBENCH_SANITIZE=0 skips the sanitizer stage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh  # installs only what is missing (one dpkg-query when nothing is)
build_dir=${STARBENCH_BUILD_DIR:-build}
sanitize_dir=${STARBENCH_SANITIZE_BUILD_DIR:-build-sanitize}
jobs=$(nproc)
# OpenMPI refuses root without these; CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Unity builds of the libraries and binary (CMakeLists.txt, STARBENCH_UNITY): CI
# builds from scratch three times (this, the sanitizer build, the MPICH test's).
# Kernels for sm_80 and sm_90 (SASS) + sm_90 PTX whatever GPU this machine has,
# so that CI proves both compile (ctest cuda_architectures reads the objects).
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="80-real;90" \
  -DSTARBENCH_UNITY=ON
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 900

if [[ ${STARBENCH_SANITIZE:-1} != 0 ]]; then
  # CUDA and SimGrid off: the sanitizers cover the host code every backend shares
  # and the cpu backend; only the unit and MPI test binaries are built.
  cmake -S . -B "$sanitize_dir" -DCMAKE_BUILD_TYPE=Debug -DSTARBENCH_CUDA=OFF -DSTARBENCH_SIMGRID=OFF \
    -DSTARBENCH_SANITIZE=ON -DSTARBENCH_UNITY=ON
  cmake --build "$sanitize_dir" -j "$jobs" --target unit_and_mpi_tests
  ctest --test-dir "$sanitize_dir" --output-on-failure -j "$jobs" --timeout 900 -R '^(unit|mpi)_'
fi
