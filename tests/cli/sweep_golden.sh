#!/usr/bin/env bash
# Small sweeps on 2 ranks with fixed seeds give the same stored runs and the
# same printed table (timing left out) as the goldens in tests/cli/golden/:
# timing sweeps (global, ring zigzag + contiguous, star with C/4 and fixed
# blocks, anchor sizes and modes, the anchor ablations, duo and star + duo with
# a random pattern), task sweeps on the committed tiny retrieval model and
# `forward`. They were recorded with the binary of commit 1dcfa5b, before the
# sweep drivers and method settings were restructured (issue 18), and kept line
# for line since, but for what later issues changed on purpose:
# - issue 19: the host attributes every run gained (gpus_per_host, host_count,
#   host_split), inserted;
# - issue 20, item 16: ";block_rule=<rule>" in every star params_key, and the
#   timing case's fixed 16 at length 64, which that binary merged into C/4's
#   runs of the same block, added as its own six runs (every value equal to
#   those C/4 runs');
# - issue 20, item 14: task summaries record star's block rule, its block and
#   anchor at the summary's length (0 / -1 before), the anchor settings and ring
#   layout, the placement and their samples' mean fidelity, and their key ends
#   with the hardware part.
# Labels: the goldens' table rows carry the labels of that time; each row's
# label must now be its run's `label` attribute, and the labels those listed
# in golden/<case>.labels (kind and label of each run). STARBENCH_UPDATE_GOLDEN=1
# rewrites the goldens and labels (a change that is meant to change results; say
# so in its commit), STARBENCH_UPDATE_GOLDEN=labels the labels alone.
source "$(dirname "$0")/common.sh"
golden="$SOURCE_DIR/tests/cli/golden"
model="$SOURCE_DIR/tests/reference/data/tiny-retrieval"
words="$SOURCE_DIR/tests/reference/data/words/words.txt"
timing=(run --backend cpu --query-len 4 --generate 3 --repeats 1 --warmup 0 --seed 7)
tasks=(run --backend cpu --model "$model" --words "$words" --seq-len 320 --samples 2 --seed 3 --task-generate 8
       --repeats 1 --warmup 0)
status=0

# check NAME RANKS ARGS...: runs starbench, dumps its results and table, compares with the golden.
check() {
  local name=$1 ranks=$2
  shift 2
  local out="$WORK/$name.h5" table="$WORK/$name.txt"
  mpirun "$ranks" "$@" -o "$out" >"$table" 2>"$WORK/$name.err" || { cat "$WORK/$name.err"; fail "$name failed"; }
  [[ $1 == forward ]] && table=-  # no table
  "$PYTHON" "$golden/sweep_golden.py" dump "$out" "$table" "$WORK/$name.dump"
  if [[ ${STARBENCH_UPDATE_GOLDEN:-0} != 0 ]]; then
    [[ $STARBENCH_UPDATE_GOLDEN == labels ]] || cp "$WORK/$name.dump" "$golden/$name.txt"
    grep '^label ' "$WORK/$name.dump" | sed 's/^label //' >"$golden/$name.labels" || true
    [[ -s $golden/$name.labels ]] || rm -f "$golden/$name.labels"
    echo "$name: golden ($STARBENCH_UPDATE_GOLDEN) rewritten"
    return
  fi
  local labels=()
  [[ -f $golden/$name.labels ]] && labels=(--labels "$golden/$name.labels")
  "$PYTHON" "$golden/sweep_golden.py" compare "$golden/$name.txt" "$WORK/$name.dump" "${labels[@]}" || status=1
}

check timing 2 "${timing[@]}" --method global,ring,star --seq-len 64,128 --ring-layout zigzag,contiguous \
  --block-size C/4,16 --anchor-size -1,8 --anchor-mode auto,recompute,once
check ablation 2 "${timing[@]}" --method global,star --seq-len 96 --block-size 0 --anchor-source first,previous \
  --anchor-positions original,adjacent
check duo 2 "${timing[@]}" --method global,duo,star --seq-len 96 --block-size 0 --duo-pattern random:3 --duo-sink 4 \
  --duo-recent 8 --duo-sparsity 0.5 --anchor-mode auto,recompute
check tasks 2 "${tasks[@]}" --task niah_single_1,vt --method global,ring,star --ring-layout zigzag,contiguous \
  --block-size C/4,0 --anchor-size -1,16
check tasks_duo 2 "${tasks[@]}" --task niah_single_1 --method global,duo,star --block-size 0 --duo-pattern random:5 --duo-sink 4 \
  --duo-recent 16 --duo-sparsity 0.5
check forward_star 2 forward --backend cpu --tokens "$(seq -s, 11 110)" --context-len 96 --method star \
  --block-size 24 --anchor-size 8 --anchor-source previous --anchor-mode recompute --generate 3
check forward_ring 2 forward --backend cpu --tokens "$(seq -s, 21 120)" --context-len 90 --method ring \
  --ring-layout contiguous --generate 3
[[ $status == 0 ]] || fail "a sweep's results or table differ from the goldens"
echo "sweep goldens: every case matches"
