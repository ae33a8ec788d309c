#!/usr/bin/env bash
# The results file on a shared cluster (issue 14): two concurrent writers lose no
# run; a symlinked path is written through to its target; an unwritable
# destination is refused on every rank, with the reason, in under 2 s and before
# the model is loaded; a sweep refused before its first run leaves no file.
source "$(dirname "$0")/common.sh"

small=(run --backend cpu --method global --seq-len 64 --repeats 1 --warmup 0)
count_runs() {
  "$PYTHON" -c "import h5py, sys; print(len(h5py.File(sys.argv[1], 'r')['runs']))" "$1"
}

# --- 1. two writers of one file --------------------------------------------------
# The reproduction of the issue: both used to print "30 run(s) written" while the
# file held fewer than 60.
lengths=$(seq -s, 64 16 528)
for seed in 1 2; do
  mpirun 1 run --backend cpu --method global --seq-len "$lengths" --repeats 1 --warmup 0 --seed "$seed" \
    -o "$WORK/c.h5" >"$WORK/writer$seed.log" 2>&1 &
done
wait
for seed in 1 2; do
  grep -q "30 run(s) written" "$WORK/writer$seed.log" || { cat "$WORK/writer$seed.log"; fail "writer $seed failed"; }
done
stored=$(count_runs "$WORK/c.h5")
[[ $stored -eq 60 ]] || fail "two writers reported 2 x 30 runs written, the file holds $stored"
echo "ok: two concurrent writers, 60 runs stored"

# --- 2. a symlinked results path -----------------------------------------------------
mkdir -p "$WORK/store"
ln -s store/linked.h5 "$WORK/linked.h5"  # dangling: the first commit creates the target
mpirun 1 "${small[@]}" -o "$WORK/linked.h5" >/dev/null 2>&1 || fail "run through a dangling symlink failed"
mpirun 1 "${small[@]}" --seq-len 80 -o "$WORK/linked.h5" >/dev/null 2>&1 || fail "run through a symlink failed"
[[ -L $WORK/linked.h5 ]] || fail "the symlink was replaced by a regular file"
[[ -f $WORK/store/linked.h5 && ! -L $WORK/store/linked.h5 ]] || fail "the link's target was not created"
[[ $(count_runs "$WORK/store/linked.h5") -eq 2 ]] || fail "the link's target does not hold the 2 runs"
echo "ok: a symlinked path (dangling at first) is written through to its target"

# --- 3. unwritable destinations: refused up front, with the reason ---------------
# expect_refused DESCRIPTION FRAGMENT [PREFIX...] OUTPUT: on 2 ranks, a non-zero
# exit, FRAGMENT printed once, within 2 s of the start, with nothing computed
# first (no model loaded, no run). The time is taken when the message appears:
# mpiexec itself lingers about a second before it reports a failed rank.
expect_refused() {
  local description=$1 fragment=$2 output=${*: -1}
  local -a prefix=("${@:3:$#-3}")
  local start status=0
  start=$(date +%s.%N)
  # stderr through the time stamps, stdout to a file; pipefail keeps mpiexec's status.
  "${prefix[@]}" timeout -k 5 60 mpiexec "${MPI_FLAGS[@]}" -n 2 "$STARBENCH" "${small[@]}" -o "$output" \
    2>&1 >"$WORK/out" | while IFS= read -r line; do echo "$(date +%s.%N) $line"; done >"$WORK/err" || status=$?
  [[ $status -ne 0 ]] || fail "$description: exit 0"
  grep -q -- "$fragment" "$WORK/err" || { cat "$WORK/err" >&2; fail "$description: no '$fragment'"; }
  [[ $(grep -c -- "$fragment" "$WORK/err") -eq 1 ]] || { cat "$WORK/err" >&2; fail "$description: message repeated"; }
  ! grep -q "starbench run: \|\[1/" "$WORK/err" || { cat "$WORK/err" >&2; fail "$description: a model was loaded or a run computed first"; }
  local seconds
  seconds=$("$PYTHON" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$start" \
            "$(grep -- "$fragment" "$WORK/err" | cut -d' ' -f1)")
  "$PYTHON" -c "import sys; sys.exit(0 if float(sys.argv[1]) < 2.0 else 1)" "$seconds" ||
    fail "$description: refused after $seconds s, not under 2 s"
  echo "ok: $description refused after $seconds s: $(grep -o -- "$fragment.*" "$WORK/err" | head -c 100)"
}

mpirun 1 "${small[@]}" -o "$WORK/readonly.h5" >/dev/null 2>&1
chmod 0444 "$WORK/readonly.h5"
expect_refused "a read-only results file" "Permission denied" "$WORK/readonly.h5"

# Root may write any directory; without CAP_DAC_OVERRIDE its permission bits apply.
mkdir "$WORK/readonly_dir"
chmod 0555 "$WORK/readonly_dir"
as_user=()
if [[ $(id -u) -eq 0 ]]; then
  if setpriv --bounding-set -dac_override,-dac_read_search true 2>/dev/null; then
    as_user=(setpriv --bounding-set -dac_override,-dac_read_search)
  else
    echo "skip: a read-only directory (root cannot drop CAP_DAC_OVERRIDE here: setpriv failed)"
  fi
fi
if [[ $(id -u) -ne 0 || ${#as_user[@]} -gt 0 ]]; then
  expect_refused "a read-only directory" "Permission denied" "${as_user[@]}" "$WORK/readonly_dir/r.h5"
  [[ -z $(ls -A "$WORK/readonly_dir") ]] || fail "files were left in the read-only directory"
fi
chmod 0755 "$WORK/readonly_dir"

# An immutable file refuses writes even to root; chattr +i needs CAP_LINUX_IMMUTABLE
# and a file system that keeps the flag (ext4, xfs, btrfs), which CI may lack.
mpirun 1 "${small[@]}" -o "$WORK/immutable.h5" >/dev/null 2>&1
if chattr +i "$WORK/immutable.h5" 2>/dev/null; then
  trap 'chattr -i "$WORK/immutable.h5" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  expect_refused "an immutable results file" "Operation not permitted" "$WORK/immutable.h5"
  chattr -i "$WORK/immutable.h5"
else
  echo "skip: an immutable file (chattr +i is not permitted here)"
fi

# --- 4. refused sweeps leave no file behind --------------------------------------
# expect_no_file RANKS FRAGMENT ARGS...: refused with FRAGMENT, and $WORK/empty stays empty.
mkdir "$WORK/empty"
expect_no_file() {
  local ranks=$1 fragment=$2 status=0
  shift 2
  mpirun "$ranks" run "$@" -o "$WORK/empty/results.h5" >"$WORK/out" 2>"$WORK/err" || status=$?
  [[ $status -ne 0 ]] || fail "exit 0 for: $*"
  grep -q -- "$fragment" "$WORK/err" || { cat "$WORK/err" >&2; fail "no '$fragment' for: $*"; }
  [[ -z $(ls -A "$WORK/empty") ]] || fail "'$*' was refused but left $(ls -A "$WORK/empty")"
  echo "ok: refused without a file: $fragment"
}
expect_no_file 2 "--anchor-size -5 is negative" --backend cpu --method star --anchor-size -5
expect_no_file 2 "--anchor-size -2 is negative" --backend cpu --method global,star --task niah_single_1 \
  --anchor-size -2
expect_no_file 1 "needs about" --backend cpu --model-preset llama3.1-70b --method global --seq-len 131072
expect_no_file 2 "backend 'cuda' requested" --backend cuda
expect_no_file 2 "no such directory" --backend cpu --model "$WORK/no-model"
echo "results file safety: all cases pass"
