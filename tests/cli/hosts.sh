#!/usr/bin/env bash
# Hosts of several GPUs on the command line: `run` and `forward` with
# --gpus-per-host 2 on 4 ranks (tensor and layer split) give the results of 2
# one-GPU hosts (logits, tokens, fidelity), with half the bytes between hosts;
# the records and keys carry hosts, GPUs per host and the split; resume tells
# the layouts apart; a rank count that is not a multiple of G is refused;
# `simulate` gives advice that can work when the weights do not fit one GPU.
source "$(dirname "$0")/common.sh"
sweep=(run --backend cpu --method global,ring,star --seq-len 96 --ring-layout zigzag,contiguous
       --block-size C/4 --query-len 4 --generate 3 --repeats 1 --warmup 0)

# 1. 2 hosts x 2 GPUs and 2 hosts x 1 GPU, into one file: different runs.
mpirun 4 "${sweep[@]}" --gpus-per-host 2 -o "$WORK/hosts.h5" >"$WORK/table.txt"
grep -q " 2x2 " "$WORK/table.txt" || { cat "$WORK/table.txt"; fail "the table does not show 2x2 hosts"; }
mpirun 2 "${sweep[@]}" -o "$WORK/hosts.h5" >"$WORK/one_gpu.txt" 2>&1
grep -q "skipped" "$WORK/one_gpu.txt" && fail "one-GPU hosts were taken for the 2x2 runs"
# Rerunning the 2x2 sweep skips every run.
mpirun 4 "${sweep[@]}" --gpus-per-host 2 -o "$WORK/hosts.h5" >"$WORK/again.txt" 2>&1
grep -q "0 run(s) written" "$WORK/again.txt" || { cat "$WORK/again.txt"; fail "resume reran a 2x2 run"; }
"$PYTHON" - "$WORK/hosts.h5" "$(dirname "$0")" <<'PY'
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from stored_runs import stored_runs
runs = {}
for a, g in stored_runs(sys.argv[1]):
    label = a["method"] + a.get("ring_layout", "")
    runs[(label, int(a["gpus_per_host"]))] = (a, g["comm/context_bytes"][()], g["comm/query_bytes"][()],
                                              g["generated"][()])
assert len(runs) == 8, sorted(runs)  # (global, 2 rings, star) x (1, 2 GPUs per host)
for (label, gpus), (a, context_bytes, query_bytes, generated) in runs.items():
    assert a["host_split"] == "tensor", a
    hosts = 1 if label == "global" else 2
    assert a["host_count"] == hosts and a["world_size"] == hosts * gpus, (label, gpus, a["host_count"], a["world_size"])
    key = a["params_key"]
    if gpus == 2:
        assert f";hosts={hosts};gpus_per_host=2;host_split=tensor" in key, key
        assert a["node_layout"] == f"1x{hosts * gpus}", a["node_layout"]
    else:
        assert "gpus_per_host" not in key, key
    if label.startswith("ring"):
        assert a["top1_vs_global"] == 1.0 and a["kl_vs_global"] < 1e-6, (label, gpus, a["kl_vs_global"])
    if label != "global":
        one = runs[(label, 1)]
        # star's approximation is the same on hosts of any size.
        assert a["top1_vs_global"] == one[0]["top1_vs_global"], (label, a["top1_vs_global"])
        assert abs(a["kl_vs_global"] - one[0]["kl_vs_global"]) <= 1e-4 * abs(one[0]["kl_vs_global"]) + 1e-9
        if gpus == 2:
            # Every rank of index i sends half what host i sent with one GPU.
            assert np.array_equal(context_bytes * 2, one[1][[0, 0, 1, 1]]), (label, context_bytes, one[1])
            assert np.array_equal(query_bytes * 2, one[2][[0, 0, 1, 1]]), (label, query_bytes, one[2])
    assert np.array_equal(generated, runs[(label, 1)][3]), (label, generated)
print("run: 2x2 hosts give the 2 one-GPU hosts' tokens with half the bytes between hosts; keys tell them apart")
PY
"$STARBENCH" inspect "$WORK/hosts.h5" >"$WORK/inspect.txt"
grep -q "2x2 *tensor" "$WORK/inspect.txt" || { cat "$WORK/inspect.txt"; fail "inspect does not show 2x2 tensor"; }

# 2. forward: 2x2 equals 2 one-GPU hosts for ring and star, and global on one host of 2 GPUs equals one GPU.
tokens=$("$PYTHON" -c "import random; r=random.Random(5); print(','.join(str(r.randrange(512)) for _ in range(70)))")
common=(forward --backend cpu --model-preset tiny --tokens "$tokens" --context-len 64 --generate 3)
for method in global ring star; do
  mpirun 4 "${common[@]}" --method "$method" --block-size 16 --gpus-per-host 2 -o "$WORK/$method-2x2.h5"
  mpirun 2 "${common[@]}" --method "$method" --block-size 16 -o "$WORK/$method-2x1.h5"
done
"$PYTHON" - "$WORK" <<'PY'
import sys, h5py, numpy as np
for method in ["global", "ring", "star"]:
    with h5py.File(f"{sys.argv[1]}/{method}-2x2.h5") as a, h5py.File(f"{sys.argv[1]}/{method}-2x1.h5") as b:
        err = np.abs(a["logits"][()] - b["logits"][()]).max() / np.abs(b["logits"][()]).max()
        assert err < 1e-5, (method, err)
        assert (a["generated"][()] == b["generated"][()]).all(), method
print("forward: 2x2 equals 2 one-GPU hosts")
PY

# 3. Refusal: ranks not a multiple of G (every rank ends, one message, no file).
if mpirun 3 "${sweep[@]}" --gpus-per-host 2 -o "$WORK/bad.h5" >"$WORK/bad.txt" 2>&1; then fail "3 ranks of 2-GPU hosts ran"; fi
grep -q "multiple of 2" "$WORK/bad.txt" || { cat "$WORK/bad.txt"; fail "no clear message for 3 ranks"; }
[[ -e "$WORK/bad.h5" ]] && fail "a refused sweep left a results file"

# 4. The layer split: the same tokens and fidelity, its own keys; every rank of a host sends its layers' share.
mpirun 4 "${sweep[@]}" --gpus-per-host 2 --host-split layers -o "$WORK/hosts.h5" >"$WORK/layers.txt" 2>&1 ||
  { cat "$WORK/layers.txt"; fail "the layer split did not run"; }
grep -q "skipped" "$WORK/layers.txt" && fail "layer-split runs were taken for tensor-split ones"
"$PYTHON" - "$WORK/hosts.h5" "$(dirname "$0")" <<'PY'
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from stored_runs import stored_runs
runs = {}
for a, g in stored_runs(sys.argv[1]):
    runs[(a["method"] + a.get("ring_layout", ""), int(a["gpus_per_host"]), a["host_split"])] = (
        a, g["comm/context_bytes"][()], g["generated"][()])
layers = {k: v for k, v in runs.items() if k[2] == "layers"}
assert len(layers) == 4, sorted(runs)
for (label, gpus, _), (a, context_bytes, generated) in layers.items():
    assert ";host_split=layers" in a["params_key"], a["params_key"]
    one = runs[(label, 1, "tensor")]
    assert np.array_equal(generated, one[2]), (label, generated, one[2])
    if label != "global":
        assert a["top1_vs_global"] == one[0]["top1_vs_global"], label
        # Host h's two GPUs (one layer each of the tiny model's two) sent what its one GPU sent.
        assert np.array_equal(context_bytes[0::2] + context_bytes[1::2], one[1]), (label, context_bytes, one[1])
print("run: the layer split gives the one-GPU hosts' tokens; a host's GPUs send its one GPU's bytes together")
PY

# 5. simulate: 70B does not fit one A100: the advice names GPUs per host, never more ranks; with it, it runs.
if "$STARBENCH" simulate --help 2>/dev/null | grep -q -- "--platform"; then
  args=(simulate --config "$SOURCE_DIR/configs/llama31_70b.toml" --platform "$SOURCE_DIR/configs/platforms/dgx-a100.xml"
        --repeats 1 --warmup 0 --generate 2)
  if "$STARBENCH" "${args[@]}" --ranks 4 --method ring,star -o "$WORK/sim.h5" >"$WORK/sim.txt" 2>&1; then
    fail "70B on one-GPU A100 hosts was simulated"
  fi
  grep -q -- "--gpus-per-host 2 or more" "$WORK/sim.txt" || { cat "$WORK/sim.txt"; fail "no --gpus-per-host advice"; }
  grep -q "more ranks" "$WORK/sim.txt" && fail "advised more ranks for weights that do not fit one GPU"
  "$STARBENCH" "${args[@]}" --ranks 8 --gpus-per-host 2 --method ring --ring-layout zigzag --seq-len 16384 \
    -o "$WORK/sim.h5" >"$WORK/sim2.txt" 2>&1 || { cat "$WORK/sim2.txt"; fail "70B on 4 hosts x 2 A100 not simulated"; }
  grep -q " 4x2 " "$WORK/sim2.txt" || { cat "$WORK/sim2.txt"; fail "simulated table lacks 4x2"; }
  echo "simulate: 70B advice names --gpus-per-host; 4 hosts x 2 A100 simulated"
fi
echo "hosts: ok"
