#!/usr/bin/env bash
# Bad values are refused and inputs protected (issue 20, items 6-10, 12, 13): each
# case ends with a message naming the file, field or line and the reason.
source "$(dirname "$0")/common.sh"
words="$SOURCE_DIR/tests/reference/data/words/words.txt"
tok="$WORK/bytes.json"
"$PYTHON" "$SOURCE_DIR/tests/reference/tiny_retrieval/llama3_format.py" "$tok" 256
small=(--backend cpu --query-len 4 --generate 2 --repeats 1 --warmup 0)

# expect_refused WHAT PATTERN COMMAND...: exits non-zero, stderr+stdout match PATTERN, no traceback / crash.
expect_refused() {
  local what=$1 pattern=$2 status=0
  shift 2
  "$@" >"$WORK/out" 2>&1 || status=$?
  [[ $status -ne 0 ]] || { cat "$WORK/out" >&2; fail "$what: accepted (exit 0)"; }
  grep -Eq -- "$pattern" "$WORK/out" || { cat "$WORK/out" >&2; fail "$what: message does not match '$pattern'"; }
  ! grep -qi "traceback\|segmentation\|core dumped\|terminate called" "$WORK/out" || { cat "$WORK/out" >&2; fail "$what: crashed"; }
  echo "ok: $what: $(grep -Em1 -- "$pattern" "$WORK/out" | head -c 160)"
}
sb() { timeout -k 5 120 "$STARBENCH" "$@"; }  # one process, no mpiexec, bounded
temporaries() { find "$1" -maxdepth 1 \( -name "*.tmp.*" -o -name ".*.tmp-*" \) | wc -l; }

# 6. `tasks` interrupted: SIGINT and SIGTERM remove the temporary copy; one left by
#    SIGKILL is removed by the next run.
long=(tasks --tokenizer "$tok" --words "$words" --task niah_multikey_2,vt,cwe --seq-len 60000 --samples 40 --threads 1)
for signal in INT TERM KILL; do
  mkdir -p "$WORK/sig$signal"
  "$STARBENCH" "${long[@]}" -o "$WORK/sig$signal/t.jsonl" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    [[ $(temporaries "$WORK/sig$signal") -gt 0 ]] && break
    sleep 0.05
  done
  [[ $(temporaries "$WORK/sig$signal") -gt 0 ]] || fail "SIG$signal: no temporary file appeared"
  sleep 0.3
  kill -s "$signal" "$pid"
  wait "$pid" 2>/dev/null || true
  if [[ $signal == KILL ]]; then
    [[ $(temporaries "$WORK/sig$signal") -eq 1 ]] || fail "SIGKILL left no copy (test broken)"
    "$STARBENCH" tasks --tokenizer "$tok" --words "$words" --task vt --seq-len 1024 --samples 1 \
      -o "$WORK/sig$signal/t.jsonl" >/dev/null 2>&1 || fail "the run after SIGKILL failed"
  fi
  [[ $(temporaries "$WORK/sig$signal") -eq 0 ]] || { ls -la "$WORK/sig$signal"; fail "SIG$signal: a temporary copy is left"; }
  echo "ok: tasks after SIG$signal leaves no temporary copy"
done

# 7. `tasks -o` naming one of its inputs (also through a link) is refused; the input is unchanged.
cp "$tok" "$WORK/tok_copy.json"
cp "$words" "$WORK/words_copy.txt"
ln -s "$WORK/words_copy.txt" "$WORK/words_link.txt"
before=$(md5sum "$WORK/tok_copy.json" "$WORK/words_copy.txt")
expect_refused "tasks -o the tokenizer" "--output .*tok_copy.json is the tokenizer file" \
  sb tasks --tokenizer "$WORK/tok_copy.json" --words "$WORK/words_copy.txt" --task vt --seq-len 1024 \
  -o "$WORK/tok_copy.json"
expect_refused "tasks -o the word list (by a link)" "--output .*words_link.txt is the words file" \
  sb tasks --tokenizer "$WORK/tok_copy.json" --words "$WORK/words_copy.txt" --task niah_single_2 \
  --seq-len 1024 -o "$WORK/words_link.txt"
[[ $(md5sum "$WORK/tok_copy.json" "$WORK/words_copy.txt") == "$before" ]] || fail "an input was changed"

# 8. A config key given twice is refused, naming the key, the file and the lines; 13: a typo names the line.
printf 'method = "global"\nseq-len = [32]\nrepeats = 1\nwarmup = 0\nrepeats = 3\n' >"$WORK/twice.toml"
expect_refused "config key given twice" "twice.toml: key 'repeats' is given twice \(lines 3 and 5\)" \
  mpirun 1 run --backend cpu --config "$WORK/twice.toml" -o "$WORK/c.h5"
printf 'seq-len = [32]\nmethod = "global"\nmethod = "ring"\n' >"$WORK/twice2.toml"
expect_refused "config list key given twice (simulate)" "twice2.toml: key 'method' is given twice" \
  sb simulate --config "$WORK/twice2.toml" --ranks 2 --platform "$SOURCE_DIR/configs/platforms/dgx-h200.xml" \
  -o "$WORK/c2.h5"
printf 'method = "global"\n\nseqlen = [32]\n' >"$WORK/typo.toml"
expect_refused "config typo" "typo.toml:3: unknown key 'seqlen'" mpirun 1 run --backend cpu --config "$WORK/typo.toml" -o "$WORK/c.h5"
[[ ! -e $WORK/c.h5 ]] || fail "a refused config left a results file"

# 10. Values outside their range are refused when parsed, not replaced later.
for flag in "--duo-sparsity 1.5" "--duo-sparsity -0.5" "--duo-sparsity nan" "--duo-threshold nan" \
            "--duo-sink -5" "--duo-recent -1" "--task-generate -1"; do
  # shellcheck disable=SC2086
  expect_refused "$flag" "${flag%% *}: '${flag#* }' is not" mpirun 1 run "${small[@]}" --method duo --duo-pattern random:1 --seq-len 32 \
    $flag -o "$WORK/duo.h5"
done
[[ ! -e $WORK/duo.h5 ]] || fail "a refused flag left a results file"

if "$STARBENCH" simulate --help >/dev/null 2>&1 && ! "$STARBENCH" simulate --help 2>&1 | grep -q "without SimGrid"; then
  platform="$SOURCE_DIR/configs/platforms/dgx-h200.xml"
  hardware="$SOURCE_DIR/configs/hardware/h200.json"
  sim=(simulate --model-preset tiny --method global,ring --seq-len 1024 --repeats 1 --warmup 0 --hardware "$hardware")
  # 10. gpus_per_node="8x" is not read as 8.
  sed 's/<prop id="gpus_per_node" value="8"\/>/<prop id="gpus_per_node" value="8x"\/>/' "$platform" >"$WORK/gpus.xml"
  expect_refused "gpus_per_node=8x" "gpus.xml: property gpus_per_node '8x' is not a positive whole number" \
    sb "${sim[@]}" --ranks 2 --platform "$WORK/gpus.xml" -o "$WORK/p.h5"
  # 9. A cluster's links of bandwidth 0, a backbone and a NIC link of negative bandwidth
  #    (nodes the run does not use) are refused naming the line.
  sed 's/<cluster id="node1" \(.*\) bw="450GBps"/<cluster id="node1" \1 bw="0GBps"/' "$platform" >"$WORK/zero.xml"
  expect_refused "cluster link bandwidth 0" 'zero.xml:[0-9]+: bw="0GBps" is not a positive bandwidth' \
    sb "${sim[@]}" --ranks 2 --platform "$WORK/zero.xml" -o "$WORK/p.h5"
  sed 's/<cluster id="node2" \(.*\) bb_bw="7200GBps"/<cluster id="node2" \1 bb_bw="-5GBps"/' "$platform" >"$WORK/neg.xml"
  expect_refused "backbone bandwidth -5 GBps" 'neg.xml:[0-9]+: bb_bw="-5GBps" is not a positive bandwidth' \
    sb "${sim[@]}" --ranks 2 --platform "$WORK/neg.xml" -o "$WORK/p.h5"
  sed 's/<link id="node3-nic" bandwidth="50GBps"/<link id="node3-nic" bandwidth="-1Gbps"/' "$platform" >"$WORK/nic.xml"
  expect_refused "NIC link bandwidth -1 Gbps" 'nic.xml:[0-9]+: bandwidth="-1Gbps" is not a positive bandwidth' \
    sb "${sim[@]}" --ranks 2 --platform "$WORK/nic.xml" -o "$WORK/p.h5"
  # 13. --ranks beyond the platform: the node count is right (no int overflow).
  expect_refused "--ranks 2147483647" "needs 268435456 node\(s\)" \
    sb "${sim[@]}" --ranks 2147483647 --platform "$platform" -o "$WORK/p.h5"
  # 13. A profile holding a number out of range names the file.
  "$PYTHON" - "$hardware" "$WORK/huge.json" <<'PY'
import sys
text = open(sys.argv[1]).read().replace('"memory_bytes":', '"memory_bytes": 1e400, "unused":', 1)
open(sys.argv[2], "w").write(text)
PY
  expect_refused "profile with 1e400" "huge.json: not valid JSON" \
    sb simulate --model-preset tiny --ranks 2 --platform "$platform" --hardware "$WORK/huge.json" -o "$WORK/p.h5"
  [[ ! -e $WORK/p.h5 ]] || fail "a refused simulation left a results file"
fi

# 13. `tasks` on a full disk names the file and the system's reason.
preload=${STARBENCH_FULL_DISK_PRELOAD:-}
if [[ -z $preload ]]; then
  preload=$WORK/full_disk_preload.so
  cc -shared -fPIC -O2 -o "$preload" "$SOURCE_DIR/tests/support/full_disk_preload.c" -ldl
fi
mkdir -p "$WORK/full"
expect_refused "tasks on a full disk" "full/t.jsonl.*No space left on device" \
  env LD_PRELOAD="$preload" STARBENCH_FULL_DIR="$WORK/full" STARBENCH_FULL_AFTER=4096 \
  timeout -k 5 120 "$STARBENCH" tasks --tokenizer "$tok" --words "$words" --task vt --seq-len 4096 --samples 4 \
  -o "$WORK/full/t.jsonl"
[[ $(temporaries "$WORK/full") -eq 0 ]] || fail "full disk: a temporary copy is left"

# 13. A file damaged near its start and a file with the schema but no /runs say different things.
mpirun 1 run "${small[@]}" --method global --seq-len 32 -o "$WORK/ok.h5" >/dev/null 2>&1
cp "$WORK/ok.h5" "$WORK/damaged.h5"
"$PYTHON" -c "
f = open('$WORK/damaged.h5', 'r+b'); f.seek(600); f.write(bytes(range(256)) * 4)"
"$PYTHON" -c "
import h5py
with h5py.File('$WORK/noruns.h5', 'w') as f:
    f.attrs['starbench_schema'] = 'starbench-results/1'"
expect_refused "schema but no /runs" "noruns.h5 has the 'starbench_schema' attribute but no /runs group" \
  sb inspect "$WORK/noruns.h5"
expect_refused "damaged at offset 600" "damaged.h5" sb inspect "$WORK/damaged.h5"
! grep -q "no 'starbench_schema' attribute" "$WORK/out" || { cat "$WORK/out"; fail "a damaged file is called foreign"; }

# 12. Waiting for another writer's lock says so after about a second, then goes on.
"$PYTHON" - "$WORK/locked.h5.lock" <<'PY' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.lockf(fd, fcntl.LOCK_EX)
open(sys.argv[1] + ".held", "w").close()
time.sleep(4)
PY
holder=$!
for _ in $(seq 1 100); do [[ -e $WORK/locked.h5.lock.held ]] && break; sleep 0.05; done
mpirun 1 run "${small[@]}" --method global --seq-len 32 -o "$WORK/locked.h5" >"$WORK/lock.log" 2>&1 ||
  { cat "$WORK/lock.log"; fail "the run behind the lock failed"; }
wait "$holder"
grep -q "waiting for the lock .*locked.h5.lock, held by another process (pid $holder)" "$WORK/lock.log" ||
  { cat "$WORK/lock.log"; fail "no line about the lock it waits for"; }
grep -q "1 run(s) written" "$WORK/lock.log" || fail "the run was not written after the lock was released"
echo "ok: waiting for a lock says who holds it, then the run is written"
echo "input checks: every case passed"
