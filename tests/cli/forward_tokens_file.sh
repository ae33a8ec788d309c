#!/usr/bin/env bash
# forward --tokens-file: ids from a file (prompts past the command line's limit)
# give the logits of the same ids on the command line; the output file holds
# the settings as attributes; --tokenizer prints the generated text; a bad id
# is refused with its line.
source "$(dirname "$0")/common.sh"
model="$SOURCE_DIR/tests/reference/data/tiny-retrieval"
"$PYTHON" -c "
import random; random.seed(7); ids = [random.randrange(0, 3000) for _ in range(600)]
open('$WORK/ids.txt', 'w').write('\n'.join(' '.join(map(str, ids[i:i + 25])) for i in range(0, 600, 25)) + '\n')
open('$WORK/ids.csv', 'w').write(','.join(map(str, ids)))"
common=(forward --backend cpu --model "$model" --generate 4)
mpirun 2 "${common[@]}" --context-len 590 --method star --block-size C/4 --tokens-file "$WORK/ids.txt" --tokenizer "$model/tokenizer.json" \
  -o "$WORK/file.h5" >"$WORK/file.txt" 2>&1 || { cat "$WORK/file.txt"; fail "--tokens-file"; }
mpirun 2 "${common[@]}" --context-len 590 --method star --block-size C/4 --tokens "$(cat "$WORK/ids.csv")" -o "$WORK/argv.h5" \
  >"$WORK/argv.txt" 2>&1 || { cat "$WORK/argv.txt"; fail "--tokens"; }
grep -q '^generated: "' "$WORK/file.txt" || fail "no decoded text printed: $(cat "$WORK/file.txt")"
"$PYTHON" - "$WORK" <<'PY'
import sys, h5py, numpy as np
work = sys.argv[1]
dec = lambda v: v.decode() if isinstance(v, bytes) else v
with h5py.File(f"{work}/file.h5") as a, h5py.File(f"{work}/argv.h5") as b:
    assert np.array_equal(a["logits"][:], b["logits"][:]) and np.array_equal(a["generated"][:], b["generated"][:])
    attrs = {k: dec(v) for k, v in a.attrs.items()}
    assert attrs["command"] == "forward" and attrs["method"] == "star" and attrs["block_rule"] == "C/4", attrs
    assert attrs["tokens"] == 600 and attrs["context_len"] == 590 and attrs["world_size"] == 2, attrs
    assert attrs["label"] == "star(b=C/4,a=-1)" and attrs["model"] == "tiny-retrieval", attrs
    assert attrs["tokens_sha256"] == dec(b.attrs["tokens_sha256"]) and len(attrs["tokens_sha256"]) == 64
print("ok: --tokens-file = --tokens, settings stored")
PY
printf '1 2 3\n4 x5 6\n' >"$WORK/bad.txt"
if mpirun 1 "${common[@]}" --context-len 2 --tokens-file "$WORK/bad.txt" -o "$WORK/bad.h5" >"$WORK/bad.out" 2>&1; then
  fail "a bad token id was accepted"
fi
grep -q "bad.txt:2: 'x5' is not a token id" "$WORK/bad.out" || fail "message: $(cat "$WORK/bad.out")"
[[ ! -e $WORK/bad.h5 ]] || fail "a refused forward wrote its output"
if mpirun 1 forward --backend cpu --model "$model" --tokens 1,2 --tokens-file "$WORK/ids.txt" >"$WORK/both.out" 2>&1; then
  fail "--tokens with --tokens-file was accepted"
fi
echo "forward_tokens_file: ok"
