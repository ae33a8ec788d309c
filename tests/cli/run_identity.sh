#!/usr/bin/env bash
# A stored result never stands for another (issue 20, items 1-5 and 18): resume takes
# a run only when its identity (a digest of the settings and every input) matches, so
# other weights in a folder of the same name, another weight seed, another platform
# or hardware profile of the same file name are measured anew; damaged runs are
# found by `inspect --verify` and measured again; runs of older files (no identity)
# are not reused, and the sweep says how many.
source "$(dirname "$0")/common.sh"
model="$SOURCE_DIR/tests/reference/data/tiny-llama3"
small=(--backend cpu --query-len 4 --generate 2 --repeats 1 --warmup 0)


# 1. Two checkpoints in folders of one name (A/model, B/model): B's weights differ in
#    one tensor of its third shard, header and sizes unchanged.
mkdir -p "$WORK/A" "$WORK/B"
cp -r "$model" "$WORK/A/model"
cp -r "$model" "$WORK/B/model"
"$PYTHON" - "$WORK/B/model/model-00003-of-00004.safetensors" <<'PY'
import json, struct, sys
import numpy as np
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
length = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + length])
name = sorted(k for k in header if k != "__metadata__")[-1]
begin, end = (8 + length + o for o in header[name]["data_offsets"])
dtype = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}[header[name]["dtype"]]
values = np.frombuffer(bytes(data[begin:end]), dtype=dtype).copy()
if dtype is np.uint16:  # bf16: scale through float32
    values = ((values.astype(np.uint32) << 16).view(np.float32) * 1.5).view(np.uint32) >> 16
    values = values.astype(np.uint16)
else:
    values = values * 1.5
data[begin:end] = values.tobytes()
open(path, "wb").write(bytes(data))
print(f"perturbed {name} in {path}")
PY
mpirun 2 run "${small[@]}" --model "$WORK/A/model" --method global,ring --seq-len 48 -o "$WORK/m.h5" >"$WORK/a.log" 2>&1
expect_written "$WORK/a.log" 2 "model A"
mpirun 2 run "${small[@]}" --model "$WORK/B/model" --method global,ring --seq-len 48 -o "$WORK/m.h5" >"$WORK/b.log" 2>&1
expect_written "$WORK/b.log" 2 "model B (same folder name, other weights) is not taken for A"
mpirun 2 run "${small[@]}" --model "$WORK/A/model" --method global,ring --seq-len 48 -o "$WORK/m.h5" >"$WORK/a2.log" 2>&1
expect_written "$WORK/a2.log" 0 "model A again resumes from A's runs"
"$PYTHON" - "$WORK/m.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    runs = [f["runs"][n].attrs for n in f["runs"]]
    assert len(runs) == 4, len(runs)
    digests = {a["model_digest"] for a in runs}
    assert len(digests) == 2, digests
    assert len({a["identity"] for a in runs}) == 4
    assert all(a["model"] == "model" and "safetensors" in a["model_weights"] for a in runs)
print("ok: 4 runs, 2 model digests, 4 identities")
PY

# 2. Synthetic weights: the weight seed is part of the identity and recorded.
mpirun 1 run "${small[@]}" --method global --seq-len 32 --weight-seed 1 -o "$WORK/s.h5" >"$WORK/s1.log" 2>&1
mpirun 1 run "${small[@]}" --method global --seq-len 32 --weight-seed 2 -o "$WORK/s.h5" >"$WORK/s2.log" 2>&1
expect_written "$WORK/s2.log" 1 "weight seed 2 is not taken for seed 1"
mpirun 1 run "${small[@]}" --method global --seq-len 32 --weight-seed 1 -o "$WORK/s.h5" >"$WORK/s3.log" 2>&1
expect_written "$WORK/s3.log" 0 "weight seed 1 again resumes"
"$PYTHON" -c "
import sys, h5py
with h5py.File('$WORK/s.h5', 'r') as f:
    seeds = sorted(int(f['runs'][n].attrs['weight_seed']) for n in f['runs'])
assert seeds == [1, 2], seeds
print('ok: weight_seed recorded')"

# 3, 4. Simulations: a platform with one link's latency changed, and a hardware profile
#    with one element-wise op's cost changed, under the same file names (and profile date).
if "$STARBENCH" simulate --help >/dev/null 2>&1 && ! "$STARBENCH" simulate --help 2>&1 | grep -q "without SimGrid"; then
  mkdir -p "$WORK/pa" "$WORK/pb" "$WORK/ha" "$WORK/hb"
  cp "$SOURCE_DIR/configs/platforms/dgx-h200.xml" "$WORK/pa/dgx.xml"
  sed 's/<cluster id="node0" \(.*\) lat="1us"/<cluster id="node0" \1 lat="900us"/' \
    "$SOURCE_DIR/configs/platforms/dgx-h200.xml" >"$WORK/pb/dgx.xml"
  ! cmp -s "$WORK/pa/dgx.xml" "$WORK/pb/dgx.xml" || fail "the platform edit changed nothing"
  cp "$SOURCE_DIR/configs/hardware/h200.json" "$WORK/ha/h200.json"
  "$PYTHON" - "$SOURCE_DIR/configs/hardware/h200.json" "$WORK/hb/h200.json" <<'PY'
import json, sys
profile = json.load(open(sys.argv[1]))
profile["elementwise"]["rmsnorm"]["bytes_per_s"] /= 10  # not attention, same gpu, name and date
json.dump(profile, open(sys.argv[2], "w"), indent=1)
PY
  sim=(simulate --ranks 10 --model-preset tiny --method global,ring --seq-len 4096 --query-len 4 --generate 2
       --repeats 1 --warmup 0)
  run_sim() { timeout -k 5 120 "$STARBENCH" "${sim[@]}" "$@" >>"$WORK/sim.log" 2>&1 || { cat "$WORK/sim.log"; fail "simulate $*"; }; }
  run_sim --platform "$WORK/pa/dgx.xml" --hardware "$WORK/ha/h200.json" -o "$WORK/sim.h5"
  : >"$WORK/sim.log"
  run_sim --platform "$WORK/pb/dgx.xml" --hardware "$WORK/ha/h200.json" -o "$WORK/sim.h5"
  expect_written "$WORK/sim.log" 2 "platform with another link latency is not taken for the first"
  : >"$WORK/sim.log"
  run_sim --platform "$WORK/pa/dgx.xml" --hardware "$WORK/hb/h200.json" -o "$WORK/sim.h5"
  expect_written "$WORK/sim.log" 2 "profile with another rmsnorm cost (same name and date) is not taken for the first"
  : >"$WORK/sim.log"
  run_sim --platform "$WORK/pa/dgx.xml" --hardware "$WORK/ha/h200.json" -o "$WORK/sim.h5"
  expect_written "$WORK/sim.log" 0 "the first platform and profile again resume"
  "$PYTHON" - "$WORK/sim.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    runs = [f["runs"][n].attrs for n in f["runs"]]
    assert len({a["platform_digest"] for a in runs}) == 2 and len({a["profile_digest"] for a in runs}) == 2
    ring = [a for a in runs if a["method"] == "ring"]
    ms = sorted(float(a["context_ms"]) for a in ring)
    assert ms[0] != ms[-1], ms  # the slower link or op shows in the times
    for a in runs:  # item 18: simulated runs record their simulated hosts and layout
        ranks = int(a["world_size"])
        assert a["node_layout"] == ("1x1" if ranks == 1 else "8+2"), (a["method"], a["node_layout"])
        assert a["hosts"] == ("node0" if ranks == 1 else "node0,node1"), a["hosts"]
print("ok: simulated runs keyed by platform and profile content; hosts and node_layout recorded")
PY
else
  echo "SKIP (3, 4): this starbench was built without SimGrid"
fi

# 5. Damaged data. A global + ring sweep, then: random bytes in global's reference
#    logits, a changed value in ring's timing/context_ms.
mpirun 2 run "${small[@]}" --method global,ring,star --seq-len 64 -o "$WORK/d.h5" >"$WORK/d1.log" 2>&1
"$STARBENCH" inspect --verify "$WORK/d.h5" >"$WORK/v0.txt" || { cat "$WORK/v0.txt"; fail "intact file fails --verify"; }
"$PYTHON" - "$WORK/d.h5" <<'PY'
import os, sys, h5py
path = sys.argv[1]
targets = []
with h5py.File(path, "r") as f:
    for name in f["runs"]:
        group = f["runs"][name]
        method = group.attrs["method"]
        if method == "global":
            targets.append((group["reference/query_logits"].id.get_offset(), 64))
        elif method == "ring":
            targets.append((group["timing/context_ms"].id.get_offset(), 8))
with open(path, "r+b") as raw:
    for offset, size in targets:
        raw.seek(offset)
        raw.write(os.urandom(size))
PY
status=0
"$STARBENCH" inspect --verify "$WORK/d.h5" >"$WORK/v1.txt" 2>&1 || status=$?
[[ $status -ne 0 ]] || { cat "$WORK/v1.txt"; fail "inspect --verify exits 0 on a damaged file"; }
grep -q "run_000001 .*DAMAGED.*reference/query_logits" "$WORK/v1.txt" || { cat "$WORK/v1.txt"; fail "damaged logits not named"; }
grep -q "run_000002 .*DAMAGED.*timing/context_ms" "$WORK/v1.txt" || { cat "$WORK/v1.txt"; fail "damaged timing not named"; }
grep -q "2 damaged" "$WORK/v1.txt" || { cat "$WORK/v1.txt"; fail "no count of damaged runs"; }
echo "ok: inspect --verify names the damaged runs and datasets (exit $status)"
mpirun 2 run "${small[@]}" --method global,ring,star --seq-len 64 -o "$WORK/d.h5" >"$WORK/d2.log" 2>&1
grep -q "stored run run_000001 is damaged" "$WORK/d2.log" || { cat "$WORK/d2.log"; fail "resume does not say the reference is damaged"; }
expect_written "$WORK/d2.log" 2 "resume measures the damaged global and ring runs again (star reused)"
"$PYTHON" - "$WORK/d.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    ring = [f["runs"][n].attrs for n in f["runs"] if f["runs"][n].attrs["method"] == "ring"]
    new = ring[-1]
    assert new["kl_vs_global"] < 1e-6 and new["top1_vs_global"] == 1.0, (new["kl_vs_global"], new["top1_vs_global"])
print("ok: the re-measured ring agrees with a sound reference")
PY

# NaN written with a matching checksum (a writer that stored an overflowed
# reference): refused as a reference, reported by --verify, measured again.
mpirun 2 run "${small[@]}" --method global,ring --seq-len 80 -o "$WORK/n.h5" >/dev/null 2>&1
"$PYTHON" - "$WORK/n.h5" <<'PY'
import hashlib, sys, h5py, numpy as np
with h5py.File(sys.argv[1], "a") as f:
    logits = f["runs/run_000001/reference/query_logits"]
    values = logits[()]
    values[1, 3] = np.nan
    logits[...] = values
    logits.attrs["sha256"] = hashlib.sha256(values.astype("<f4").tobytes()).hexdigest()
PY
status=0
"$STARBENCH" inspect --verify "$WORK/n.h5" >"$WORK/v2.txt" 2>&1 || status=$?
[[ $status -ne 0 ]] && grep -q "non-finite" "$WORK/v2.txt" || { cat "$WORK/v2.txt"; fail "NaN reference not reported"; }
mpirun 2 run "${small[@]}" --method global,ring --seq-len 80 -o "$WORK/n.h5" >"$WORK/n2.log" 2>&1
expect_written "$WORK/n2.log" 1 "a NaN reference is not reused: global measured again"

# Older files: runs without an identity (as starbench wrote them before) are not
# reused; they stay, the runs are measured again beside them, and the sweep says so.
mpirun 2 run "${small[@]}" --method global,ring --seq-len 96 -o "$WORK/o.h5" >/dev/null 2>&1
"$PYTHON" - "$WORK/o.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    for name in f["runs"]:
        group = f["runs"][name]
        for key in [k for k in group.attrs if k in ("identity", "attributes_sha256") or k.endswith("_digest")]:
            del group.attrs[key]
PY
mpirun 2 run "${small[@]}" --method global,ring --seq-len 96 -o "$WORK/o.h5" >"$WORK/o2.log" 2>&1
expect_written "$WORK/o2.log" 2 "runs without identity are not reused"
grep -q "2 run(s) in .*o.h5 with these settings were written before runs carried an identity" "$WORK/o2.log" ||
  { cat "$WORK/o2.log"; fail "no message about the older runs"; }
"$STARBENCH" inspect "$WORK/o.h5" | grep -c "^run_" | grep -qx 4 || fail "older runs not kept beside the new ones"
# 18. Task runs: the word list is recorded (path and digest) and part of the identity,
#     so a word list of another content under the same name is not taken for the first.
tok="$WORK/bytes.json"
"$PYTHON" "$SOURCE_DIR/tests/reference/tiny_retrieval/llama3_format.py" "$tok" 256
mkdir -p "$WORK/wa" "$WORK/wb"
cp "$SOURCE_DIR/tests/reference/data/words/words.txt" "$WORK/wa/words.txt"
head -n 4000 "$SOURCE_DIR/tests/reference/data/words/words.txt" >"$WORK/wb/words.txt"
task=(run --backend cpu --model-preset tiny --tokenizer "$tok" --task niah_single_2 --seq-len 1024 --samples 1
      --method global --repeats 1 --warmup 0 --task-generate 2 -o "$WORK/t.h5")
mpirun 1 "${task[@]}" --words "$WORK/wa/words.txt" >"$WORK/t1.log" 2>&1 || { cat "$WORK/t1.log"; fail "task run"; }
mpirun 1 "${task[@]}" --words "$WORK/wb/words.txt" >"$WORK/t2.log" 2>&1 || { cat "$WORK/t2.log"; fail "task run"; }
mpirun 1 "${task[@]}" --words "$WORK/wa/words.txt" >"$WORK/t3.log" 2>&1 || { cat "$WORK/t3.log"; fail "task run"; }
"$PYTHON" - "$WORK/t.h5" "$WORK/wa/words.txt" "$WORK/wb/words.txt" <<'PY'
import hashlib, sys, h5py
path, words_a, words_b = sys.argv[1:4]
with h5py.File(path, "r") as f:
    samples = [f["runs"][n].attrs for n in f["runs"] if f["runs"][n].attrs["kind"] == "task_sample"]
    assert len(samples) == 2, len(samples)  # the third call resumed from the first
    digests = [a["words_digest"] for a in samples]
    assert digests == [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (words_a, words_b)], digests
    assert [a["words"] for a in samples] == [words_a, words_b]
    assert all(a["tokenizer_digest"] == hashlib.sha256(open(sys.argv[1].replace("t.h5", "bytes.json"), "rb").read()).hexdigest()
               for a in samples)
print("ok: task runs record the word list and tokenizer digests; another word list is measured anew")
PY
echo "run identity: every case passed"
