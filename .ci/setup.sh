#!/usr/bin/env bash
# Installs what starbench needs to build and test, when it is missing
# (Debian/Ubuntu; run as root or with sudo available). Idempotent and quiet.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  # MPICH beside Open MPI: the job scripts are tested with both (tests/mpich/run_mpich_test.sh).
  # Debian's alternatives keep mpicc/mpicxx/mpiexec on Open MPI (priority 50 over 40); MPICH
  # is reached as mpicxx.mpich / mpiexec.mpich.
  mpich libmpich-dev
  libhdf5-dev hdf5-tools
  libcli11-dev libfmt-dev nlohmann-json3-dev libgtest-dev
  libsimgrid-dev
  python3 python3-h5py python3-numpy python3-pandas python3-matplotlib python3-pytest
  # pip-installing the analysis package into a venv over the packages above (pyproject.toml).
  python3-venv python3-pip python3-setuptools
  wamerican
)
# One dpkg-query for the whole list (about 0.1 s; a query per package took
# 0.65 s): apt-get runs only when something is missing, so the test command
# (tests/run_all.sh) may call this on every run.
declare -A installed=()
while read -r package status; do
  [[ $status == "install ok installed" ]] && installed[$package]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for package in "${packages[@]}"; do
  [[ -n ${installed[$package]:-} ]] || missing+=("$package")
done
# node and npm may come from elsewhere (nodesource, nvm) and then conflict
# with Debian's packages: install those only when the commands are missing.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "starbench setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The main build uses whatever MPI the plain names point at. Installing MPICH must
# not move them off Open MPI (it cannot in auto mode: Open MPI's priority is higher;
# an administrator's manual choice is theirs and is only reported).
if [[ -e /usr/bin/mpirun.openmpi ]]; then
  for name in mpi mpirun; do
    chosen=$(update-alternatives --query "$name" 2>/dev/null | sed -n 's/^Value: //p')
    [[ -z $chosen || $chosen == *openmpi* ]] ||
      echo "starbench setup: note: '$name' points at $chosen, not Open MPI; the main build and its tests expect Open MPI" \
           "(update-alternatives --auto $name)" >&2
  done
fi
