#!/usr/bin/env bash
# A full disk (issue 14): while the results file is created, and while an existing
# one is copied for a commit, `starbench run` must exit 1 with "No space left on
# device" (not a segfault in HDF5's exit-time cleanup, not "Input/output error")
# and leave the stored runs as they were. The full disk is emulated for one
# directory by an LD_PRELOAD library (tests/support/full_disk_preload.c: ENOSPC
# after a byte budget, short writes first), which needs no privileges; where a
# small tmpfs can be mounted (root with CAP_SYS_ADMIN) the same checks run on a
# really full file system too.
source "$(dirname "$0")/common.sh"
preload=${STARBENCH_FULL_DISK_PRELOAD:-}
if [[ -z $preload ]]; then
  preload=$WORK/full_disk_preload.so
  cc -shared -fPIC -O2 -o "$preload" "$SOURCE_DIR/tests/support/full_disk_preload.c" -ldl ||
    fail "cannot build the full-disk preload library"
fi
sweep=(run --backend cpu --method global --seq-len 64,80 --repeats 1 --warmup 0)

# expect_full DESCRIPTION DIR [ENV...]: the sweep into DIR/r.h5 exits 1 with "No space
# left on device", no crash; DIR/r.h5 is unchanged (or still absent) and no copy is left.
expect_full() {
  local description=$1 dir=$2 status=0 before=absent
  shift 2
  [[ -f $dir/r.h5 ]] && before=$(md5sum <"$dir/r.h5")
  env "$@" timeout -k 5 120 "$STARBENCH" "${sweep[@]}" -o "$dir/r.h5" >"$WORK/out" 2>"$WORK/err" || status=$?
  [[ $status -eq 1 ]] || { cat "$WORK/err" >&2; fail "$description: exit $status, expected 1"; }
  grep -q "No space left on device" "$WORK/err" || { cat "$WORK/err" >&2; fail "$description: no 'No space left on device'"; }
  ! grep -qi "Input/output error\|segmentation\|core dumped" "$WORK/err" || { cat "$WORK/err" >&2; fail "$description: wrong error"; }
  local after=absent
  [[ -f $dir/r.h5 ]] && after=$(md5sum <"$dir/r.h5")
  [[ $after == "$before" ]] || fail "$description: the results file changed"
  ! compgen -G "$dir/*.tmp.*" >/dev/null || fail "$description: a temporary copy was left: $(ls "$dir")"
  echo "ok: $description: $(grep -o "error: .*" "$WORK/err" | head -c 150)"
}

full=$WORK/full
mkdir -p "$full"
emulated=(LD_PRELOAD="$preload" STARBENCH_FULL_DIR="$full")
# Creation: nothing fits, or the first bytes fit and HDF5's writes then fail.
expect_full "full disk at creation" "$full" "${emulated[@]}" STARBENCH_FULL_AFTER=0
expect_full "disk full while HDF5 writes the new file" "$full" "${emulated[@]}" STARBENCH_FULL_AFTER=3000
# An existing file: the copy fails at once, or half-way (a short write first).
# (another seed: the failing sweeps must not find their runs stored and skip them)
"$STARBENCH" "${sweep[@]}" --seed 99 -o "$full/r.h5" >/dev/null 2>&1 || fail "a sweep without the full disk failed"
size=$(stat -c %s "$full/r.h5")
expect_full "full disk during the copy" "$full" "${emulated[@]}" STARBENCH_FULL_AFTER=0
expect_full "disk full half-way through the copy" "$full" "${emulated[@]}" STARBENCH_FULL_AFTER=$((size / 2))
expect_full "disk full after the copy, while HDF5 appends" "$full" "${emulated[@]}" STARBENCH_FULL_AFTER=$((size + 2000))

# A really full file system, where one can be mounted.
tmpfs=$WORK/tmpfs
mkdir -p "$tmpfs"
if mount -t tmpfs -o size=16k tmpfs "$tmpfs" 2>/dev/null; then
  trap 'umount "$tmpfs" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  expect_full "a 16 KiB tmpfs at creation" "$tmpfs"
  umount "$tmpfs"
  # Room for the stored file and half a copy of it.
  mount -t tmpfs -o size=$(( (size * 3 / 2 + 4095) / 4096 * 4 ))k tmpfs "$tmpfs"
  cp "$full/r.h5" "$tmpfs/r.h5"
  expect_full "a tmpfs with room for half a copy" "$tmpfs"
  umount "$tmpfs"
else
  echo "skip: a real full tmpfs (mount needs CAP_SYS_ADMIN); the emulated cases above ran"
fi
echo "disk full: every case exits 1 with 'No space left on device'"
