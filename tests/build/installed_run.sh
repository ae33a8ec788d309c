#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then the installed starbench run
# from a folder outside the checkout: a 2-rank sweep with the installed smoke
# config, `inspect` of its file, a simulation on an installed platform (whose
# hardware profile is found beside it), and the installed analysis/ imported.
# Usage: installed_run.sh BUILD_DIR   (env: STARBENCH_MPIEXEC, STARBENCH_PYTHON)
set -euo pipefail
build=${1:?usage: installed_run.sh BUILD_DIR}
mpiexec=${STARBENCH_MPIEXEC:-mpiexec}
python=${STARBENCH_PYTHON:-/usr/bin/python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/starbench-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }
bin=$prefix/bin/starbench
share=$prefix/share/starbench
[[ -x $bin ]] || fail "no executable $bin"
for file in configs/smoke.toml configs/platforms/dgx-h200.xml jobs/local.sh jobs/lib/launch.sh analysis/__main__.py; do
  [[ -f $share/$file ]] || fail "not installed: share/starbench/$file"
done
[[ -x $share/jobs/local.sh ]] || fail "share/starbench/jobs/local.sh lost its execute bit"
[[ ! -e $share/analysis/tests ]] || fail "analysis/tests installed"

# Run from a folder that is not the checkout nor the build: only the prefix.
mkdir "$work/elsewhere"
cd "$work/elsewhere"
mpi_flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && mpi_flags+=(--allow-run-as-root)
export OMP_NUM_THREADS=1 STARBENCH_COLLECTIVE_TIMEOUT_S=60
timeout -k 5 120 "$mpiexec" "${mpi_flags[@]}" -n 2 "$bin" run --config "$share/configs/smoke.toml" --seq-len 64 \
  --repeats 1 --output smoke.h5 >run.log 2>&1 || { cat run.log; fail "installed starbench run on 2 ranks"; }
[[ -f smoke.h5 ]] || fail "the run wrote no smoke.h5"
"$bin" inspect smoke.h5 >inspect.log 2>&1 || { cat inspect.log; fail "installed starbench inspect"; }
for method in global ring star; do
  grep -q "$method" inspect.log || { cat inspect.log; fail "inspect lists no $method run"; }
done

if "$bin" simulate --help 2>&1 | grep -q -- "--platform"; then
  timeout -k 5 120 "$bin" simulate --ranks 2 --platform "$share/configs/platforms/dgx-h200.xml" --model-preset tiny \
    --method ring,star --seq-len 256 --repeats 1 --warmup 0 --output sim.h5 >sim.log 2>&1 ||
    { cat sim.log; fail "installed starbench simulate on an installed platform"; }
  [[ -f sim.h5 ]] || fail "the simulation wrote no sim.h5"
fi

PYTHONPATH=$share "$python" -c "import analysis, sys; sys.exit(0 if analysis.__file__.startswith('$share/') else 1)" ||
  fail "analysis is not importable from the installed share/starbench"
echo "installed run OK ($prefix)"
