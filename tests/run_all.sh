#!/usr/bin/env bash
# Builds starbench and runs every test (GoogleTest, MPI tests under mpiexec,
# CLI and Slurm script tests, pytest for analysis/) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
build_dir=${STARBENCH_BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" -j "$jobs"
# OpenMPI refuses root without these; CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 900
