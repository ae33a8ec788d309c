#!/usr/bin/env bash
# DuoAttention through the CLI: `run` with duo and star + duo records the
# pattern (source, sparsity, sink, recent) and per-kind KV bytes, compares with
# global; a rerun with the same pattern skips, another pattern runs anew;
# `forward` takes a pattern directory.
source "$(dirname "$0")/common.sh"
out="$WORK/duo.h5"
sweep=(run --backend cpu --method global,duo,star --block-size 0 --seq-len 96 --query-len 4 --generate 5 --repeats 1 --warmup 0
       --duo-pattern random:3 --duo-sink 4 --duo-recent 16 -o "$out")
mpirun 2 "${sweep[@]}" --duo-sparsity 0.5 >"$WORK/table.txt" 2>"$WORK/err.txt" || { cat "$WORK/err.txt"; fail "duo sweep failed"; }
grep -q "duo pattern random:3 (2 layers x 2 KV heads): 2 of 4 KV heads streaming" "$WORK/err.txt" ||
  { cat "$WORK/err.txt"; fail "the pattern line is missing"; }
grep -q "star+duo" "$WORK/table.txt" || { cat "$WORK/table.txt"; fail "no star+duo row"; }
"$PYTHON" - "$out" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    runs = {}
    for name in f["runs"]:
        a = f["runs"][name].attrs
        method = a["method"].decode() if isinstance(a["method"], bytes) else a["method"]
        runs[method] = a
    assert set(runs) == {"global", "duo", "star"}, set(runs)
    for method in ("duo", "star"):
        a = runs[method]
        pattern = a["duo_pattern"].decode() if isinstance(a["duo_pattern"], bytes) else a["duo_pattern"]
        assert pattern == "random:3" and a["duo_sparsity"] == 0.5 and a["duo_requested_sparsity"] == 0.5, method
        assert a["duo_sink"] == 4 and a["duo_recent"] == 16 and a["duo_streaming_heads"] == 2, method
        assert "duo=random:3" in (a["params_key"].decode() if isinstance(a["params_key"], bytes) else a["params_key"])
        assert "kl_vs_global" in a, method  # compared with global, like every method
    assert "duo_pattern" not in runs["global"]
    assert runs["duo"]["world_size"] == 1 and runs["star"]["world_size"] == 2
    # Per-kind KV: half the heads keep 96 + 4 + 5 rows, the other half 4 + 16 (tiny: head_dim 32, fp32, K and V).
    row = 32 * 4 * 2
    assert runs["global"]["kv_cache_bytes"] == 4 * (96 + 9) * row, runs["global"]["kv_cache_bytes"]
    assert runs["duo"]["kv_cache_bytes"] == 2 * (96 + 9) * row + 2 * 20 * row, runs["duo"]["kv_cache_bytes"]
    assert runs["duo"]["decode_peak_mem_bytes"] <= runs["duo"]["peak_mem_bytes"]
print("duo runs: recorded with their pattern")
PY
# Same pattern: skipped; another sparsity: new runs for duo and star, global skipped.
mpirun 2 "${sweep[@]}" --duo-sparsity 0.5 >/dev/null 2>"$WORK/again.txt" || { cat "$WORK/again.txt"; fail "rerun failed"; }
[[ $(grep -c "skipped" "$WORK/again.txt") -eq 3 ]] || { cat "$WORK/again.txt"; fail "rerun did not skip all 3 runs"; }
mpirun 2 "${sweep[@]}" --duo-sparsity 0.25 >/dev/null 2>"$WORK/other.txt" || { cat "$WORK/other.txt"; fail "other sparsity failed"; }
[[ $(grep -c "skipped" "$WORK/other.txt") -eq 1 ]] || { cat "$WORK/other.txt"; fail "another pattern must rerun duo and star"; }

# forward with a pattern directory (DuoAttention's format) on one rank and star + duo on two.
mkdir -p "$WORK/pattern"
printf '0.9\t0.1\n0.2\t0.7\n' >"$WORK/pattern/full_attention_heads.tsv"
echo '{"sink_size": 4, "recent_size": 8}' >"$WORK/pattern/config.json"
tokens=$(seq -s, 1 40)
mpirun 1 forward --backend cpu --model-preset tiny --tokens "$tokens" --context-len 32 --generate 3 --method duo \
  --duo-pattern "$WORK/pattern" -o "$WORK/f1.h5" 2>"$WORK/f1.txt" || { cat "$WORK/f1.txt"; fail "forward duo failed"; }
mpirun 2 forward --backend cpu --model-preset tiny --tokens "$tokens" --context-len 32 --generate 3 --method star \
  --duo-pattern "$WORK/pattern" -o "$WORK/f2.h5" 2>"$WORK/f2.txt" || { cat "$WORK/f2.txt"; fail "forward star+duo failed"; }
"$PYTHON" -c "
import h5py
for name in ('$WORK/f1.h5', '$WORK/f2.h5'):
    with h5py.File(name) as f:
        assert f['logits'].shape == (8, 512) and f['generated'].shape == (3,), name
"
echo "duo through the CLI: ok"
