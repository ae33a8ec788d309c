#!/usr/bin/env bash
# Star runs of two block rules are two runs even where their blocks agree (issue 20,
# item 16): C/4 of 96 tokens and a fixed 24 (C/8 of 192 and a fixed 24; C/16 of
# 512K and a fixed 32768 in a simulation) are each run, recorded with their own
# rule and keyed apart (";block_rule=<rule>" in params_key, so in the identity).
# A rerun reuses every one; star runs of a file written before keys named the rule
# (their identity digests that older key) are measured again, not reused, and the
# sweep says how many.
source "$(dirname "$0")/common.sh"
small=(--backend cpu --query-len 4 --generate 2 --repeats 1 --warmup 0)
sweep=(run "${small[@]}" --method star --seq-len 96,192 --block-size 24,C/4,C/8 -o "$WORK/rules.h5")


mpirun 2 "${sweep[@]}" >"$WORK/first.log" 2>&1 || { cat "$WORK/first.log"; fail "the sweep failed"; }
expect_written "$WORK/first.log" 6 "three rules at two lengths are six runs"
"$PYTHON" - "$WORK/rules.h5" <<'PY'
import sys, h5py
text = lambda v: v.decode() if isinstance(v, bytes) else v
with h5py.File(sys.argv[1], "r") as f:
    runs = [f["runs"][n].attrs for n in f["runs"]]
    seen = {(int(a["seq_len"]), text(a["block_rule"]), int(a["block_size"])) for a in runs}
    assert seen == {(96, "fixed", 24), (96, "C/4", 24), (96, "C/8", 12), (192, "fixed", 24), (192, "C/4", 48),
                    (192, "C/8", 24)}, seen
    keys = [text(a["params_key"]) for a in runs]
    assert len(set(keys)) == 6 and len({text(a["identity"]) for a in runs}) == 6, keys
    for a, key in zip(runs, keys):
        assert f";block_size={int(a['block_size'])};" in key and f";block_rule={text(a['block_rule'])};" in key, key
print("ok: each rule recorded as itself and keyed apart where the blocks agree")
PY
mpirun 2 "${sweep[@]}" >"$WORK/again.log" 2>&1 || { cat "$WORK/again.log"; fail "the rerun failed"; }
expect_written "$WORK/again.log" 0 "a rerun reuses every rule's run"

# The file as an earlier starbench wrote it: star keys without the rule, and
# identities over those keys (the formula checked first on today's runs).
"$PYTHON" - "$WORK/rules.h5" "$SOURCE_DIR" <<'PY'
import hashlib, re, sys, h5py
sys.path.insert(0, sys.argv[2])
from analysis.integrity import attributes_sha256
text = lambda v: v.decode() if isinstance(v, bytes) else v
def identity(key, a):  # a cpu timing run's components: the model's digest
    return hashlib.sha256(f"starbench-identity/1\nparams_key={key}\nmodel_digest={text(a['model_digest'])}\n"
                          .encode()).hexdigest()
with h5py.File(sys.argv[1], "a") as f:
    for name in f["runs"]:
        group = f["runs"][name]
        key = text(group.attrs["params_key"])
        assert identity(key, group.attrs) == text(group.attrs["identity"]), name
        legacy = re.sub(r";block_rule=[^;]*", "", key)
        group.attrs["params_key"], group.attrs["identity"] = legacy, identity(legacy, group.attrs)
        group.attrs["attributes_sha256"] = attributes_sha256(group)
PY
"$STARBENCH" inspect --verify "$WORK/rules.h5" >"$WORK/verify.txt" 2>&1 || { cat "$WORK/verify.txt"; fail "the edited file is damaged"; }
mpirun 2 "${sweep[@]}" >"$WORK/older.log" 2>&1 || { cat "$WORK/older.log"; fail "the sweep on the older file failed"; }
expect_written "$WORK/older.log" 6 "star runs keyed without their rule are not reused"
grep -q "6 star run(s) in .*rules.h5 with these settings were written before star runs' keys named the block rule" \
  "$WORK/older.log" || { cat "$WORK/older.log"; fail "no message about the older star runs"; }
mpirun 2 "${sweep[@]}" >"$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; fail "the last rerun failed"; }
expect_written "$WORK/last.log" 0 "the runs measured anew are reused"
"$STARBENCH" inspect "$WORK/rules.h5" | grep -c "^run_" | grep -qx 12 || fail "the older runs are not kept beside the new"

# Simulated at 512K tokens on 8 GPUs: C/16 is 32768 tokens, as is the fixed block.
if "$STARBENCH" simulate --help 2>&1 | grep -q "without SimGrid"; then
  echo "SKIP (simulation): built without SimGrid"
else
  timeout -k 5 120 "$STARBENCH" simulate --ranks 8 --platform "$SOURCE_DIR/configs/platforms/dgx-h200.xml" \
    --hardware "$SOURCE_DIR/configs/hardware/h200.json" --method star --seq-len 524288 \
    --block-size 8192,32768,C/16 -o "$WORK/sim.h5" >"$WORK/sim.log" 2>&1 || { cat "$WORK/sim.log"; fail "simulate"; }
  expect_written "$WORK/sim.log" 3 "simulated: 8192, 32768 and C/16 (= 32768) are three runs"
  "$PYTHON" - "$WORK/sim.h5" <<'PY'
import sys, h5py
text = lambda v: v.decode() if isinstance(v, bytes) else v
with h5py.File(sys.argv[1], "r") as f:
    runs = sorted((text(a["block_rule"]), int(a["block_size"]), text(a["params_key"]))
                  for a in (f["runs"][n].attrs for n in f["runs"]))
assert [r[:2] for r in runs] == [("C/16", 32768), ("fixed", 8192), ("fixed", 32768)], runs
assert len({r[2] for r in runs}) == 3, runs
print("ok: simulated C/16 and fixed 32768 recorded apart")
PY
fi
echo "block rule runs: every case passed"
