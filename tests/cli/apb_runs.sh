#!/usr/bin/env bash
# APB through the CLI: `run --method apb` stores its runs with their settings
# (anchor, passing, query place, compressor and its digest) and compares them
# with global; a rerun skips, another compressor is another run; `forward
# --method apb` reproduces the float64 reference's greedy tokens; `simulate
# --method apb` runs; bad settings are refused with a clear message.
source "$(dirname "$0")/common.sh"
out="$WORK/apb.h5"
sweep=(run --backend cpu --method global,apb --seq-len 96 --query-len 4 --generate 3 --repeats 1 --warmup 0
       --apb-anchor 0,8 --apb-passing C/16 -o "$out")
mpirun 2 "${sweep[@]}" --apb-compressor random:5 >"$WORK/table.txt" 2>"$WORK/err.txt" ||
  { cat "$WORK/err.txt"; fail "apb sweep failed"; }
grep -q "apb compressor random:5 (synthetic, hidden 1024, 2 layers)" "$WORK/err.txt" ||
  { cat "$WORK/err.txt"; fail "the compressor line is missing"; }
grep -q "apb(a=8,p=C/16)" "$WORK/table.txt" || { cat "$WORK/table.txt"; fail "no apb(a=8,p=C/16) row"; }
"$PYTHON" - "$out" <<'PY'
import sys, h5py
def text(v):
    return v.decode() if isinstance(v, bytes) else v
with h5py.File(sys.argv[1], "r") as f:
    runs = [f["runs"][name].attrs for name in f["runs"]]
    apb = {text(a["label"]): a for a in runs if text(a["method"]) == "apb"}
    assert set(apb) == {"apb(a=0,p=C/16)", "apb(a=8,p=C/16)"}, set(apb)
    for label, a in apb.items():
        assert a["block_size"] == 48 and a["apb_passing"] == 6 and a["world_size"] == 2, label
        assert a["anchor_size"] == (8 if "a=8" in label else 0), label
        assert text(a["apb_query_in_anchor"]) == "on" and text(a["apb_compressor"]) == "random:5", label
        assert text(a["apb_compressor_digest"]) == "random:5:hidden=1024" and a["apb_compressor_hidden"] == 1024
        key = text(a["params_key"])
        assert "apb_passing=6;apb_passing_rule=C/16;apb_query_in_anchor=on;apb_compressor=random:5" in key, key
        assert ";apb_anchor_rule=" + ("8" if "a=8" in label else "0") + ";" in key, key
        assert "kl_vs_global" in a, label  # compared with global, like every method
        assert a["comm_bytes_context"] > 0, label  # the passing blocks were all-gathered
print("apb runs: recorded with their settings")
PY
# The same settings: skipped; another compressor: new apb runs, global skipped.
mpirun 2 "${sweep[@]}" --apb-compressor random:5 >/dev/null 2>"$WORK/again.txt" || { cat "$WORK/again.txt"; fail "rerun failed"; }
mpirun 2 "${sweep[@]}" --apb-compressor random:6 >/dev/null 2>"$WORK/other.txt" || { cat "$WORK/other.txt"; fail "other compressor failed"; }
"$PYTHON" - "$out" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert len(f["runs"]) == 5, len(f["runs"])  # global + 2 apb, then 2 apb with random:6
PY

# forward: the committed float64 reference case on its 2 hosts, with its compressor.
data="$SOURCE_DIR/tests/reference/data"
case_file="$data/apb_C80_H2_A8_P4_Q1.safetensors"
read -r tokens generated < <("$PYTHON" - "$case_file" <<'PY'
import sys, json, struct, array
raw = open(sys.argv[1], "rb").read()
size = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + size])
def values(name):
    begin, end = header[name]["data_offsets"]
    data = array.array("f")
    data.frombytes(raw[8 + size + begin:8 + size + end])
    return [int(x) for x in data]
print(",".join(map(str, values("tokens"))), ",".join(map(str, values("generated"))))
PY
)
mpirun 2 forward --backend cpu --model "$data/tiny-llama3" --tokens "$tokens" --context-len 80 --method apb \
  --apb-anchor 8 --apb-passing 4 --apb-compressor "$data/apb_compressor_tiny" --generate 4 -o "$WORK/forward.h5" \
  >"$WORK/forward.log" 2>&1 || { cat "$WORK/forward.log"; fail "forward --method apb failed"; }
"$PYTHON" - "$WORK/forward.h5" "$generated" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    got = ",".join(str(int(x)) for x in f["generated"][:])
    assert got == sys.argv[2], (got, sys.argv[2])
    assert f.attrs["apb_passing"] in (b"4", "4") and f.attrs["label"] in (b"apb(a=8,p=4)", "apb(a=8,p=4)")
    assert len(f.attrs["apb_compressor_digest"]) == 64
print("forward --method apb: the reference's greedy tokens")
PY

# simulate: APB on the DGX H200 platform with its profile.
if "$STARBENCH" simulate --help >/dev/null 2>&1 && ! "$STARBENCH" simulate --help 2>&1 | grep -q "without SimGrid"; then
  timeout -k 5 120 "$STARBENCH" simulate --ranks 4 --platform "$SOURCE_DIR/configs/platforms/dgx-h200.xml" \
    --model-preset tiny --method star,apb --seq-len 1024 --block-size C/4 --anchor-size 32 --apb-anchor 32 \
    --apb-passing 16 --apb-compressor random:1 --query-len 8 --generate 2 -o "$WORK/sim.h5" >"$WORK/sim.log" 2>&1 ||
    { cat "$WORK/sim.log"; fail "simulate --method apb failed"; }
  grep -q "apb(a=32,p=16)" "$WORK/sim.log" || { cat "$WORK/sim.log"; fail "no simulated apb row"; }
fi

# Bad settings: one clear message each, no results file.
refused() {  # refused FRAGMENT args...: the command fails and says FRAGMENT
  local fragment=$1
  shift
  if "$STARBENCH" "$@" >"$WORK/refused.txt" 2>&1; then fail "accepted: $*"; fi
  grep -qF -- "$fragment" "$WORK/refused.txt" || { cat "$WORK/refused.txt"; fail "no '$fragment' for: $*"; }
}
bad=(run --backend cpu --method apb --seq-len 96 --repeats 1 --warmup 0 -o "$WORK/bad.h5")
refused "--method apb needs a compressor" "${bad[@]}"
refused "a host passes at most its whole block" "${bad[@]}" --apb-compressor random:1 --apb-passing 100
refused "more than a host's block" "${bad[@]}" --apb-compressor random:1 --apb-anchor 97
refused "--apb-query-in-anchor 'maybe' is not one of on, off" "${bad[@]}" --apb-compressor random:1 --apb-query-in-anchor maybe
refused "is not a number of tokens" "${bad[@]}" --apb-compressor random:1 --apb-passing -4
refused "the seed after random: is not a whole number" "${bad[@]}" --apb-compressor random:x
refused "no $WORK/nothing/compressor.safetensors" "${bad[@]}" --apb-compressor "$WORK/nothing"
refused "--apb-compressor is used by --method apb" run --backend cpu --method star --seq-len 96 -o "$WORK/bad.h5" \
  --apb-compressor random:1
mkdir -p "$WORK/wrong"
"$PYTHON" - "$WORK/wrong/compressor.safetensors" <<'PY'
import sys, json, struct
# fc2 of layer 1 with 3 rows where the tiny model has 2 KV heads.
shapes = {"layers.0.fc1.weight": [8, 256], "layers.0.fc2.weight": [2, 8],
          "layers.1.fc1.weight": [8, 256], "layers.1.fc2.weight": [3, 8]}
header, offset = {"__metadata__": {"format": "starbench-apb-compressor", "source": "test"}}, 0
for name, shape in shapes.items():
    size = 4 * shape[0] * shape[1]
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
    offset += size
text = json.dumps(header).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + bytes(offset))
PY
refused "tensor 'layers.1.fc2.weight' has shape [3, 8], but fc2 of tiny needs [2, 8]" "${bad[@]}" \
  --apb-compressor "$WORK/wrong"
[[ ! -e "$WORK/bad.h5" ]] || fail "a refused sweep left a results file"
echo "apb CLI: ok"
