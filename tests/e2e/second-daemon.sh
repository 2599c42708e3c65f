#!/bin/bash
# A second taskctld on the same state directory exits non-zero naming the
# lock; the first keeps serving.
. "$(dirname "$0")/lib.sh"
start_daemon
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$WORK/other.sock" \
    --runner direct >"$WORK/second.log" 2>&1 || rc=$?
[ $rc != 0 ] || fail "the second daemon exited 0"
grep -q "lock $STATE/lock" "$WORK/second.log" || fail "no lock named: $(cat "$WORK/second.log")"
id=$(T submit -- true); T wait "$id" || fail "the first daemon stopped serving"
pass
