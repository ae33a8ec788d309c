#!/usr/bin/env bash
# What a user sees (issue 23, items 14-18): progress lines (a line per run
# start, one per repeat of a long run, an ETA), task scores as fractions, the
# default star block C/4, `simulate`'s own defaults and header, `inspect`'s
# label / device / simulated columns, the stored rows in a resumed sweep's
# table, and `calibrate`'s default output outside the checkout and its quick
# grid on a CPU.
source "$(dirname "$0")/common.sh"
model="$SOURCE_DIR/tests/reference/data/tiny-retrieval"
words="$SOURCE_DIR/tests/reference/data/words/words.txt"
small=(--backend cpu --query-len 4 --generate 2)

# 1. Progress: a "started" line per run; with the repeat-line threshold at 0 s a line per repeat
#    (warm-ups apart); at the default 10 s none for these short runs; the last run leaves ETA 0s.
STARBENCH_PROGRESS_AFTER_S=0 mpirun 2 run "${small[@]}" --method global,ring --ring-layout zigzag,contiguous \
  --seq-len 64,128 --repeats 2 --warmup 1 -o "$WORK/progress.h5" >"$WORK/progress.txt" 2>"$WORK/progress.err" ||
  { cat "$WORK/progress.err"; fail "progress sweep failed"; }
grep -q "^\[1/6\] global seq_len=64: started$" "$WORK/progress.err" || { cat "$WORK/progress.err"; fail "no start line"; }
[[ $(grep -c ": started" "$WORK/progress.err") == 6 ]] || { cat "$WORK/progress.err"; fail "not one start line per run"; }
grep -q "^\[3/6\] ring(contiguous) seq_len=64: warm-up 1/1 done, .* into the run (ETA .*)$" "$WORK/progress.err" ||
  { cat "$WORK/progress.err"; fail "no warm-up line"; }
[[ $(grep -c ": repeat [12]/2 done" "$WORK/progress.err") == 12 ]] || { cat "$WORK/progress.err"; fail "not 2 repeat lines per run"; }
grep -q "^\[6/6\] ring(contiguous) .*(ETA 0s)$" "$WORK/progress.err" || { cat "$WORK/progress.err"; fail "the last run's ETA is not 0s"; }
mpirun 2 run "${small[@]}" --method global --seq-len 64 --repeats 2 -o "$WORK/quiet.h5" >/dev/null 2>"$WORK/quiet.err"
! grep -q "repeat\|warm-up" "$WORK/quiet.err" || { cat "$WORK/quiet.err"; fail "repeat lines for a run shorter than 10 s"; }
STARBENCH_PROGRESS_AFTER_S=soon mpirun 1 run "${small[@]}" --method global --seq-len 64 -o "$WORK/bad.h5" \
  >/dev/null 2>"$WORK/bad.err" && fail "a bad STARBENCH_PROGRESS_AFTER_S was accepted"
grep -q "STARBENCH_PROGRESS_AFTER_S='soon' is not a number" "$WORK/bad.err" || { cat "$WORK/bad.err"; fail "no message"; }
echo "progress: start lines, repeat lines past the threshold, ETA 0s at the end"

# 2. Task progress prints the sample's score as a fraction (RULER's partial credit), not rounded to 0 or 1.
mpirun 2 run --backend cpu --model "$model" --words "$words" --task vt,niah_single_1 --seq-len 320 --samples 1 \
  --method global --task-generate 8 --repeats 1 --warmup 0 -o "$WORK/tasks.h5" >/dev/null 2>"$WORK/tasks.err" ||
  { cat "$WORK/tasks.err"; fail "task sweep failed"; }
[[ $(grep -cE "\] global +prompt [0-9]+ tokens, score [01]\.[0-9]{2}: " "$WORK/tasks.err") == 2 ]] ||
  { cat "$WORK/tasks.err"; fail "task progress does not print the score with two decimals"; }
echo "tasks: scores printed as fractions"

# 3. The default block C/4 on more than 4 ranks is refused with the reason and what to pass.
set +e
mpirun 5 run --backend cpu --method star --seq-len 80 -o "$WORK/five.h5" >"$WORK/five.txt" 2>&1
status=$?
set -e
[[ $status -ne 0 ]] || fail "5 ranks with the default C/4 blocks were accepted"
grep -q "block-size C/4 cuts the context into 4 blocks, fewer than the 5 ranks.*C/4 is the default" "$WORK/five.txt" ||
  { cat "$WORK/five.txt"; fail "the refusal does not say why"; }
[[ ! -e $WORK/five.h5 ]] || fail "a refused sweep left a file"
echo "default block: C/4 (recorded, tests/cli/run_and_resume.sh); on 5 ranks refused with the reason"

# 4. A fully resumed sweep's table holds the stored rows: the same rows as the sweep that stored them.
mpirun 2 run "${small[@]}" --method global,ring --ring-layout zigzag,contiguous --seq-len 64,128 --repeats 2 \
  --warmup 1 -o "$WORK/progress.h5" >"$WORK/resumed.txt" 2>"$WORK/resumed.err" || { cat "$WORK/resumed.err"; fail "rerun failed"; }
grep -q "0 run(s) written to .*; 6 run(s) already there were skipped (resume): their rows are the stored ones" \
  "$WORK/resumed.txt" || { cat "$WORK/resumed.txt"; fail "the resumed sweep's footer"; }
diff <(grep -E "^(global|ring)" "$WORK/progress.txt") <(grep -E "^(global|ring)" "$WORK/resumed.txt") ||
  fail "the resumed sweep's table differs from the stored runs'"
[[ $(grep -cE "^(global|ring)" "$WORK/resumed.txt") == 6 ]] || { cat "$WORK/resumed.txt"; fail "not 6 stored rows"; }
echo "resume: the table shows the 6 stored rows"

# 5. inspect names each run by its label (the ring layout too), its device and whether it was simulated.
"$STARBENCH" inspect "$WORK/progress.h5" >"$WORK/inspect.txt"
grep -q "^run .* label .* sim  identity  *device$" "$WORK/inspect.txt" || { cat "$WORK/inspect.txt"; fail "inspect's header"; }
device=$("$PYTHON" -c "
import h5py, sys
with h5py.File(sys.argv[1]) as f:
    d = f['runs'][sorted(f['runs'])[0]].attrs['device']
    print(d.decode() if isinstance(d, bytes) else d)" "$WORK/progress.h5")
[[ $(grep -c " ring(contiguous) .* 0  [0-9a-f]\{12\}  $device$" "$WORK/inspect.txt") == 2 ]] || { cat "$WORK/inspect.txt"; fail "inspect: contiguous rows"; }
[[ $(grep -c " ring  .* 0  [0-9a-f]\{12\}  $device$" "$WORK/inspect.txt") == 2 ]] || { cat "$WORK/inspect.txt"; fail "inspect: zigzag rows"; }
echo "inspect: label, device ($device), simulated"

# 6. simulate: the 8B model, 1 repeat, no warm-up, simulated.h5 in the current directory, its own header.
if "$STARBENCH" simulate --help 2>&1 | grep -q -- "--platform"; then
  mkdir "$WORK/sim" && cd "$WORK/sim"
  "$STARBENCH" simulate --ranks 2 --platform "$SOURCE_DIR/configs/platforms/dgx-h200.xml" --method global,star \
    --seq-len 8192 >"$WORK/sim.txt" 2>"$WORK/sim.err" || { cat "$WORK/sim.err"; fail "simulate with its defaults failed"; }
  cd - >/dev/null
  grep -q "^starbench simulate: llama3.1-8b (32 layers, hidden 4096), backend sim on .*, 2 rank(s), 2 run(s) -> simulated.h5$" \
    "$WORK/sim.err" || { cat "$WORK/sim.err"; fail "simulate's header"; }
  [[ -f $WORK/sim/simulated.h5 && ! -e $WORK/sim/results.h5 ]] || fail "simulate did not write ./simulated.h5 (alone)"
  "$PYTHON" - "$WORK/sim/simulated.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    for name in f["runs"]:
        a = f["runs"][name].attrs
        model = a["model"].decode() if isinstance(a["model"], bytes) else a["model"]
        assert model == "llama3.1-8b" and a["repeats"] == 1 and a["warmup"] == 0 and a["simulated"] == 1, dict(a)
        assert f["runs"][name]["timing/context_ms"].shape[0] == 1
print("simulate: llama3.1-8b, 1 repeat, no warm-up")
PY
  "$STARBENCH" inspect "$WORK/sim/simulated.h5" >"$WORK/inspect_sim.txt"
  [[ $(grep -c " 1  [0-9a-f]\{12\}  NVIDIA H200 (simulated)$" "$WORK/inspect_sim.txt") == 2 ]] || { cat "$WORK/inspect_sim.txt"; fail "inspect: simulated rows"; }
else
  echo "SKIP simulate defaults: built without SimGrid"
fi

# 7. calibrate writes to the user's cache directory unless told (never configs/hardware/), and --quick
#    with its default shapes (the tiny model's) takes seconds on a CPU.
mkdir -p "$WORK/checkout/configs/hardware" && cd "$WORK/checkout"
start=$(date +%s.%N)
XDG_CACHE_HOME="$WORK/cache" mpirun 2 calibrate --backend cpu --quick >"$WORK/calibrate.txt" 2>&1 ||
  { cat "$WORK/calibrate.txt"; fail "calibrate --quick failed"; }
seconds=$("$PYTHON" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$start" "$(date +%s.%N)")
profile=$(ls "$WORK"/cache/starbench/hardware/*.json)
grep -q "hardware profile written to $profile" "$WORK/calibrate.txt" || { cat "$WORK/calibrate.txt"; fail "where it went is not said"; }
grep -q "shapes of tiny" "$WORK/calibrate.txt" || { cat "$WORK/calibrate.txt"; fail "--quick did not default to the tiny shapes"; }
[[ -z $(find "$WORK/checkout" -type f) ]] || fail "calibrate wrote into the current directory"
"$PYTHON" -c "import sys; assert float(sys.argv[1]) < 30, f'calibrate --quick took {sys.argv[1]} s'" "$seconds"
(unset XDG_CACHE_HOME; HOME="$WORK/home" mpirun 1 calibrate --backend cpu --quick) >"$WORK/calibrate_home.txt" 2>&1 ||
  { cat "$WORK/calibrate_home.txt"; fail "calibrate with HOME only failed"; }
ls "$WORK"/home/.cache/starbench/hardware/*.json >/dev/null || fail "no profile under \$HOME/.cache"
set +e
(unset XDG_CACHE_HOME HOME; mpirun 1 calibrate --backend cpu --quick) >"$WORK/calibrate_none.txt" 2>&1
status=$?
set -e
[[ $status -ne 0 ]] && grep -q "neither XDG_CACHE_HOME nor HOME is set.*pass --output FILE" "$WORK/calibrate_none.txt" ||
  { cat "$WORK/calibrate_none.txt"; fail "calibrate without a default place"; }
cd - >/dev/null
echo "calibrate: --quick in ${seconds} s on 2 ranks, profile in \$XDG_CACHE_HOME/starbench/hardware/ (or ~/.cache)"
