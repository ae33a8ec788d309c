#!/usr/bin/env bash
# The analysis package used from outside the checkout: pip-installed (pyproject.toml)
# into a virtual environment over Debian's numpy/h5py/pandas/matplotlib
# (--system-site-packages; no network: --no-deps --no-build-isolation --no-index), its
# console entry point run on a docs/data file from a directory outside the checkout.
# The package is built from a copy, so that setuptools' build/ and *.egg-info never
# land in the checkout (build/ is CMake's).
#
#   tests/packaging/pip_install_test.sh          exit 0 pass, 1 fail, 77 skipped (no venv module)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=/usr/bin/python3
fail() {
  echo "pip install test: FAIL: $*" >&2
  exit 1
}
work=$(mktemp -d "${TMPDIR:-/tmp}/starbench-pip.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! "$python" -m venv --system-site-packages "$work/venv" >"$work/venv.log" 2>&1; then
  cat "$work/venv.log"
  echo "pip install test: SKIP: no working venv module (Debian: python3-venv python3-pip; .ci/setup.sh installs them)"
  exit 77
fi
mkdir -p "$work/source"
cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/LICENSE" "$repo/analysis" "$work/source/"
rm -rf "$work/source/analysis/__pycache__" "$work/source/analysis/tests/__pycache__"
"$work/venv/bin/pip" install --no-deps --no-build-isolation --no-index --quiet "$work/source" >"$work/pip.log" 2>&1 ||
  { cat "$work/pip.log" >&2; fail "pip install of the analysis package failed"; }

# From a directory outside the checkout, with no PYTHONPATH: only the installed copy can answer.
mkdir -p "$work/elsewhere"
cd "$work/elsewhere"
unset PYTHONPATH
export MPLBACKEND=Agg
where=$("$work/venv/bin/python" -c "import starbench_analysis, os; print(os.path.dirname(starbench_analysis.__file__))")
[[ $where == "$work/venv/"* ]] || fail "starbench_analysis imported from $where, not from the virtual environment"
[[ -f $where/paper_points.csv ]] || fail "paper_points.csv (the published points) not installed"
[[ ! -e $where/tests ]] || fail "the package's tests were installed"
if "$work/venv/bin/python" -c "import analysis" 2>/dev/null; then
  fail "a module named 'analysis' is importable: the installed name must be starbench_analysis"
fi
# (Output captured before grep -q: a pipe closed early would fail the command under pipefail.)
help=$("$work/venv/bin/starbench-analysis" --help) || fail "starbench-analysis --help failed"
grep -q "^usage: starbench-analysis" <<<"$help" || fail "starbench-analysis --help: $help"
"$work/venv/bin/starbench-analysis" report "$repo/docs/data/star_study_4xh200.h5" --out report >"$work/report.log" 2>&1 ||
  { cat "$work/report.log" >&2; fail "starbench-analysis report failed"; }
[[ -s report/report.md && -s report/speedup_vs_length.png ]] || fail "no report.md / speedup_vs_length.png"
grep -q "Published numbers overlaid" report/report.md || fail "report.md lacks the published points"
table=$("$work/venv/bin/python" -m starbench_analysis speedup-table "$repo/docs/data/star_study_4xh200.h5") ||
  fail "python -m starbench_analysis speedup-table failed"
grep -q "zigzag" <<<"$table" || fail "python -m starbench_analysis speedup-table: no zigzag ring rows"
shown=$("$work/venv/bin/pip" show starbench-analysis) || fail "pip show starbench-analysis"
grep -q "^License: Apache-2.0" <<<"$shown" || fail "the package names no license: $shown"
echo "pip install test: ok: starbench-analysis installed in a venv ($("$work/venv/bin/pip" --version | cut -d' ' -f1-2)), report written outside the checkout"
