#!/usr/bin/env bash
# Bad input: one clear message, a non-zero exit, never a hang or a crash.
source "$(dirname "$0")/common.sh"
reference="$SOURCE_DIR/tests/reference/data/tiny-llama3"

# expect_error RANKS FRAGMENT ARGS...: exits non-zero, prints FRAGMENT once, no core dump.
expect_error() {
  local ranks=$1 fragment=$2
  shift 2
  local status=0
  mpirun "$ranks" "$@" >"$WORK/out" 2>"$WORK/err" || status=$?
  [[ $status -ne 0 ]] || fail "exit 0 for: $*"
  [[ $status -ne 124 && $status -ne 137 ]] || fail "hang (timeout) for: $*"
  grep -q -- "$fragment" "$WORK/err" || { cat "$WORK/err" >&2; fail "no '$fragment' for: $*"; }
  local count
  count=$(grep -c -- "$fragment" "$WORK/err")
  [[ $count -eq 1 ]] || { cat "$WORK/err" >&2; fail "message printed $count times for: $*"; }
  ! grep -qi "segmentation\|core dumped\|terminate called" "$WORK/err" || fail "crash for: $*"
  echo "ok ($status): $fragment"
}

fwd=(forward --backend cpu --tokens 1,2,3,4,5,6,7,8 --context-len 4 -o "$WORK/out.h5")
expect_error 2 "no such directory" "${fwd[@]}" --model "$WORK/missing"
expect_error 1 "outside the vocabulary" forward --backend cpu --model-preset tiny --tokens 1,2,600 --context-len 1 -o "$WORK/o.h5"
expect_error 2 "unknown attention method" "${fwd[@]}" --model-preset tiny --method bogus
expect_error 1 "cannot create output file" forward --backend cpu --model-preset tiny --tokens 1,2,3,4 --context-len 2 -o /nonexistent-dir/out.h5
expect_error 2 "the query (tokens after the context) must not be empty" forward --backend cpu --model-preset tiny --tokens 1,2,3 --context-len 3
expect_error 2 "larger than a block" run --backend cpu --method star --seq-len 64 --block-size 16 --anchor-size 32 -o "$WORK/r.h5"
expect_error 3 "ranks but only" run --backend cpu --method star --seq-len 64 --block-size 32 -o "$WORK/r.h5"
expect_error 2 "larger than the context" run --backend cpu --method star --seq-len 64 --block-size 128 -o "$WORK/r.h5"
expect_error 2 "query is empty" run --backend cpu --query-len 0 -o "$WORK/r.h5"
expect_error 2 "unknown attention method" run --backend cpu --method stra -o "$WORK/r.h5"
expect_error 2 "--anchor-source 'foo' is not one of" run --backend cpu --method star --anchor-source foo -o "$WORK/r.h5"
# Accuracy runs check star's settings before any tokenizer, model or run.
expect_error 2 "--anchor-positions 'far' is not one of" run --backend cpu --method global,star --task niah_single_1 \
  --anchor-positions far -o "$WORK/r.h5"
expect_error 2 "not writable\|cannot create\|cannot open\|unwritable" run --backend cpu -o /proc/starbench.h5
# DuoAttention: refused on every rank with one message, before the model is loaded.
expect_error 2 "--method duo needs a head pattern" run --backend cpu --method global,duo -o "$WORK/r.h5"
expect_error 2 "is 32 layers x 8 KV heads but model tiny has 2 layers x 2 KV heads" run --backend cpu --method duo \
  --duo-pattern "$SOURCE_DIR/configs/duo/Meta-Llama-3.1-8B-Instruct" -o "$WORK/r.h5"
printf '1\t0\n0\t1\n' >"$WORK/bare.tsv"
expect_error 2 "is a bare .tsv: pass --duo-sink and --duo-recent" run --backend cpu --method duo \
  --duo-pattern "$WORK/bare.tsv" -o "$WORK/r.h5"
expect_error 2 "--duo-sink, --duo-recent, --duo-threshold and --duo-sparsity need --duo-pattern" run --backend cpu \
  --method global --duo-sink 4 -o "$WORK/r.h5"
expect_error 2 "must lie inside the anchor" forward --backend cpu --model-preset tiny --tokens "$(seq -s, 1 40)" \
  --context-len 32 --method star --block-size 16 --anchor-size 2 --duo-pattern "$WORK/bare.tsv" --duo-sink 4 \
  --duo-recent 8 -o "$WORK/o.h5"
# One rank per GPU, checked on every rank before a GPU is touched (STARBENCH_FAKE_GPUS
# stands in for the GPU count on machines without GPUs).
STARBENCH_FAKE_GPUS=2 expect_error 3 "host $(hostname) runs 3 rank(s) (0, 1, 2) but sees 2 GPU(s)" \
  run --backend cuda -o "$WORK/r.h5"
[[ ! -e $WORK/r.h5 ]] || fail "a refused run left $WORK/r.h5 behind"

if [[ -d "$reference" ]]; then
  # A truncated shard names the file.
  cp -r "$reference" "$WORK/truncated"
  shard=$(ls "$WORK/truncated"/*.safetensors | tail -n 1)
  truncate -s $(( $(stat -c %s "$shard") / 2 )) "$shard"
  expect_error 2 "$(basename "$shard")" "${fwd[@]}" --model "$WORK/truncated"
  # Heads not divisible by KV heads.
  cp -r "$reference" "$WORK/badheads"
  "$PYTHON" - "$WORK/badheads/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["num_key_value_heads"] = 3
json.dump(config, open(path, "w"))
PY
  expect_error 2 "must be a multiple of num_key_value_heads" "${fwd[@]}" --model "$WORK/badheads"
else
  fail "reference checkpoint $reference missing"
fi
echo "bad input: all cases end with one message and a non-zero exit"
