# Sourced by the device-machine scripts: every command under one deadline for
# the whole script (a device call has a hard limit). Set DEADLINE_S and OUT,
# and RUN_FOR_NAME (the prefix of $OUT/<name>_skipped.log and _commands.log),
# before sourcing.
begin=$(date +%s)
left() { echo $(( DEADLINE_S - ($(date +%s) - begin) )); }
# run_for SECONDS LOG cmd...: at most SECONDS, and never past the deadline.
run_for() {
  local limit=$1 log=$2
  shift 2
  local remaining
  remaining=$(left)
  (( remaining < limit )) && limit=$remaining
  if (( limit < 20 )); then echo "skipped (deadline): $*" | tee -a "$OUT/${RUN_FOR_NAME}_skipped.log"; return 1; fi
  echo "[$(date -u +%H:%M:%S)] ($limit s) $*" >>"$OUT/${RUN_FOR_NAME}_commands.log"
  timeout -k 10 "$limit" "$@" >>"$log" 2>&1 || { echo "FAILED or timed out ($?): $*"; tail -5 "$log"; return 1; }
}
