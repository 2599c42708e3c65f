#!/bin/bash
# 20 damaged copies of a store the daemon wrote (issue 12, point 4): truncated
# files, flipped bytes inside task and attempt records (finished and active),
# zeroed pages. For each: taskctld never dies of a signal and never starts
# empty; it refuses to start naming the file and "corrupt" (the file left
# as it was), or it starts and the first read of the damaged record answers
# exit 75 "corrupt", after which it is read-only (submit, cancel: exit 75),
# other records still read, and the file's sha256 never changes again.
# Flips into stale copies of a record (free pages) are harmless: reported.
# The damage is computed, not random: offsets come from store-locate.
. "$(dirname "$0")/lib.sh"
LOCATE=$BIN/store-locate
[ -x "$LOCATE" ] || fail "store-locate not built ($LOCATE)"

# ---- A real store: 40 finished tasks with an attempt each, 3 active ----
start_daemon
ids=()
for i in $(seq -w 1 40); do ids+=("$(T submit -- echo "fin-marker-$i")"); done
T wait "${ids[@]}" >/dev/null || fail "the finished tasks did not succeed"
for i in 1 2 3; do T submit --in 1h -- echo "act-marker-$i" >/dev/null; done
[ "$(T status 43 --json | json state)" = waiting ] || fail "task 43 is not waiting"
stop_daemon
PRISTINE=$WORK/pristine
cp -a "$STATE/store" "$PRISTINE"
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --check-store >"$WORK/check.out" ||
  fail "the undamaged store does not check sound: $(cat "$WORK/check.out")"
DATA=$STATE/store/data.mdb
SIZE=$(stat -c %s "$PRISTINE/data.mdb")

# locate TABLE ID [NUMBER] -> "OFFSET SIZE PAGESIZE KEYOFFSET" in the pristine copy.
locate() { "$LOCATE" "$PRISTINE" "$@"; }
flip_at() {  # flip_at OFFSET: invert one byte where it is, as a bad disk would
  python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1)
f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$DATA" "$1"
}
zero_page_at() {  # zero_page_at OFFSET PAGESIZE: the whole page holding OFFSET
  python3 -c 'import sys
ps = int(sys.argv[3]); page = int(sys.argv[2]) // ps * ps
f = open(sys.argv[1], "r+b"); f.seek(page); f.write(bytes(ps))' "$DATA" "$1" "$2"
}
sha() { sha256sum "$DATA" | cut -d' ' -f1; }

REFUSED=0 DETECTED=0 HARMLESS=0 CASES=0
REPORT=$WORK/report; : >"$REPORT"

# The daemon on the damaged copy. Sets STARTED=1 once it answers, or 0 once
# it has exited (its status in EXITED). A signal death fails the test.
launch() {
  "$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" \
      --runner direct >"$WORK/case.log" 2>&1 &
  DAEMON_PID=$!
  STARTED=
  for _ in $(seq 200); do
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      EXITED=0; wait "$DAEMON_PID" || EXITED=$?; DAEMON_PID=
      [ "$EXITED" -lt 128 ] || fail "$CASE: taskctld died of signal $((EXITED - 128)): $(tail -n 3 "$WORK/case.log")"
      STARTED=0; return
    fi
    if [ -S "$TASKCTL_SOCKET" ] && T queue list >/dev/null 2>&1; then STARTED=1; return; fi
    sleep 0.05
  done
  fail "$CASE: taskctld neither answered nor exited"
}
finish() {  # SIGTERM; a clean exit, never a signal death
  kill -TERM "$DAEMON_PID"
  local rc=0; wait "$DAEMON_PID" || rc=$?; DAEMON_PID=
  [ "$rc" -lt 128 ] || fail "$CASE: taskctld died of signal $((rc - 128)) at SIGTERM"
  rm -f "$TASKCTL_SOCKET"
}
expect_corrupt() {  # expect_corrupt WHAT CMD...: exit 75 naming the corruption
  local what=$1; shift
  local rc=0; T "$@" >"$WORK/out" 2>&1 || rc=$?
  [ "$rc" = 75 ] || fail "$CASE: $what exited $rc, want 75: $(cat "$WORK/out")"
  grep -q "corrupt" "$WORK/out" || fail "$CASE: $what does not name the corruption: $(cat "$WORK/out")"
}

# run_case NAME READ-ID DAMAGE...: a fresh copy, the damage, then the daemon.
# READ-ID: the task whose status reads the damaged record.
run_case() {
  CASE=$1 READ_ID=$2; shift 2
  CASES=$((CASES + 1))
  rm -rf "$STATE/store"; cp -a "$PRISTINE" "$STATE/store"
  "$@"
  local before; before=$(sha)
  launch
  if [ "$STARTED" = 0 ]; then
    grep -q "the store $DATA is corrupt" "$WORK/case.log" ||
      fail "$CASE: refused without naming the file and \"corrupt\": $(tail -n 3 "$WORK/case.log")"
    grep -q -- "--salvage-store" "$WORK/case.log" || fail "$CASE: the refusal says nothing of --salvage-store"
    [ "$(sha)" = "$before" ] || fail "$CASE: refusing to start changed the file"
    REFUSED=$((REFUSED + 1)); echo "$CASE: refused at start" >>"$REPORT"
    return
  fi
  # Up: never empty (a silent reset would have lost task 43, verified at open).
  [ "$(T status 43 --json | json state)" = waiting ] || fail "$CASE: task 43 is gone (a silent reset?)"
  local rc=0; T status "$READ_ID" >"$WORK/out" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    finish
    # Not read: only a flip into a page no record lives in may do that.
    "$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --check-store >"$WORK/check.out" ||
      fail "$CASE: damage to a live record went unnoticed by status $READ_ID: $(cat "$WORK/check.out")"
    HARMLESS=$((HARMLESS + 1)); echo "$CASE: harmless, the flip landed in a free page" >>"$REPORT"
    return
  fi
  [ "$rc" = 75 ] || fail "$CASE: status $READ_ID exited $rc, want 75: $(cat "$WORK/out")"
  grep -q "the store $DATA is corrupt" "$WORK/out" || fail "$CASE: status $READ_ID: $(cat "$WORK/out")"
  local detected; detected=$(sha)
  # Read-only from now on: every change refused, nothing written.
  expect_corrupt "submit" submit -- true
  expect_corrupt "cancel" cancel 42
  expect_corrupt "queue pause" queue pause default
  [ "$(T status 43 --json | json state)" = waiting ] || fail "$CASE: a sound record no longer reads"
  T list >/dev/null 2>&1 || true  # may meet the damage again; must not crash
  sleep 0.3
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "$CASE: taskctld exited after the corruption was found"
  finish
  [ "$(sha)" = "$detected" ] || fail "$CASE: the file changed after the corruption was found"
  DETECTED=$((DETECTED + 1)); echo "$CASE: detected at the first read, read-only from then on" >>"$REPORT"
}

# ---- The damage ----
read -r _ _ PS _ < <(locate tasks 1)
trunc() { truncate -s "$1" "$DATA"; }
flip_record() {  # flip_record POSITION TABLE ID [NUMBER]: POSITION first|middle|last
  local pos=$1; shift
  local off size; read -r off size _ _ < <(locate "$@")
  case $pos in first) flip_at "$off" ;; middle) flip_at $((off + size / 2)) ;; last) flip_at $((off + size - 1)) ;; esac
}
zero_value_page() { local off; read -r off _ _ _ < <(locate "$@"); zero_page_at "$off" "$PS"; }
zero_key_page() { local k; read -r _ _ _ k < <(locate "$@"); zero_page_at "$k" "$PS"; }
# A stale copy of a task's record: its marker where no live value of the
# task or its attempt lies (LMDB copies a record on every change, and reuses
# freed pages, so which tasks still have one depends on the commits: take the
# first task from N on that has one). Sets READ_ID to that task.
flip_stale() {
  local n
  for n in $(seq "$1" 40) $(seq 1 $(($1 - 1))); do
    local toff tsize aoff asize at
    read -r toff tsize _ _ < <(locate tasks "$n")
    read -r aoff asize _ _ < <(locate attempts "$n" 1)
    at=$(python3 -c 'import sys
data = open(sys.argv[1], "rb").read(); marker = ("fin-marker-%02d" % int(sys.argv[2])).encode()
live = [(int(sys.argv[3]), int(sys.argv[4])), (int(sys.argv[5]), int(sys.argv[6]))]
at = data.find(marker)
while at >= 0 and any(o <= at < o + s for o, s in live): at = data.find(marker, at + 1)
print(at)' "$DATA" "$n" "$toff" "$tsize" "$aoff" "$asize")
    if [ "$at" -ge 0 ]; then
      flip_at "$at"; READ_ID=$n; CASE="$CASE (task $n, offset $at)"; return
    fi
  done
  fail "no stale copy of any task's record to flip"
}

run_case "truncated by one page" 1 trunc $((SIZE - PS))
run_case "truncated to half" 1 trunc $((SIZE / 2))
run_case "truncated to three pages" 1 trunc $((PS * 3))
run_case "truncated inside the second meta page" 1 trunc $((PS + 100))
run_case "flip in finished task 3" 3 flip_record middle tasks 3
run_case "flip in finished task 11" 11 flip_record middle tasks 11
run_case "flip in finished task 19 (segment table)" 19 flip_record first tasks 19
run_case "flip in finished task 27 (last byte)" 27 flip_record last tasks 27
run_case "flip in finished task 35" 35 flip_record middle tasks 35
run_case "flip in active task 41" 41 flip_record middle tasks 41
run_case "flip in active task 42 (segment table)" 42 flip_record first tasks 42
run_case "flip in active task 43 (checksum)" 43 flip_record last tasks 43
run_case "flip in attempt 7/1" 7 flip_record middle attempts 7 1
run_case "flip in attempt 30/1 (checksum)" 30 flip_record last attempts 30 1
run_case "zeroed page of task 15's record" 15 zero_value_page tasks 15
run_case "zeroed leaf page of attempt 20/1" 20 zero_value_page attempts 20 1
run_case "zeroed leaf page of the tasks table" 1 zero_key_page tasks 1
run_case "zeroed page of active task 41's record" 41 zero_value_page tasks 41
run_case "flip in a stale copy of a task record" 0 flip_stale 5
run_case "flip in another stale copy of a task record" 0 flip_stale 25

cat "$REPORT"
echo "$CASES damaged copies: $REFUSED refused at start, $DETECTED detected at the first read," \
     "$HARMLESS harmless (free pages); 0 crashes, 0 silent resets"
[ "$CASES" = 20 ] || fail "ran $CASES cases, want 20"
[ $((REFUSED + DETECTED + HARMLESS)) = 20 ] || fail "cases unaccounted for"
[ "$DETECTED" -ge 8 ] || fail "only $DETECTED cases were read-time detections"
[ "$REFUSED" -ge 8 ] || fail "only $REFUSED cases were refused at start"
pass
