#!/usr/bin/env bash
# `starbench forward`: ring on 2 and 3 ranks and star with one block give
# global's logits and tokens; star with several blocks does not.
source "$(dirname "$0")/common.sh"
tokens=$("$PYTHON" -c "import random; r=random.Random(3); print(','.join(str(r.randrange(512)) for _ in range(77)))")
common=(forward --backend cpu --model-preset tiny --tokens "$tokens" --context-len 61 --generate 4)
mpirun 1 "${common[@]}" --method global -o "$WORK/global.h5"
mpirun 2 "${common[@]}" --method ring -o "$WORK/ring2.h5"
mpirun 3 "${common[@]}" --method ring -o "$WORK/ring3.h5"
mpirun 1 "${common[@]}" --method star --block-size 61 -o "$WORK/star1.h5"
mpirun 3 "${common[@]}" --method star --block-size 16 --anchor-size 8 -o "$WORK/star3.h5"
"$PYTHON" - "$WORK" <<'PY'
import sys, h5py, numpy as np
work = sys.argv[1]
def load(name):
    with h5py.File(f"{work}/{name}.h5", "r") as f:
        return f["logits"][()], f["generated"][()]
g_logits, g_tokens = load("global")
assert g_logits.shape == (16, 512), g_logits.shape
assert g_logits.dtype == np.float32 and np.isfinite(g_logits).all()
for name in ["ring2", "ring3", "star1"]:
    logits, tokens = load(name)
    err = np.abs(logits - g_logits).max() / np.abs(g_logits).max()
    assert err < 1e-5, (name, err)
    assert (tokens == g_tokens).all(), (name, tokens, g_tokens)
star_logits, _ = load("star3")
assert np.abs(star_logits - g_logits).max() > 1e-4, "star with 4 blocks should differ from global"
print("forward: ring(2,3) and one-block star match global; multi-block star differs")
PY
