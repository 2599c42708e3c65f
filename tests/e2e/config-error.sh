#!/bin/bash
# An invalid config stops the daemon at start with file:line:column.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = "lots"\n' >"$CONFIG"
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" \
    >"$WORK/out.log" 2>&1 || rc=$?
[ $rc != 0 ] || fail "started with an invalid config"
grep -q "$CONFIG:2:15: queues.default.concurrency must be an integer" "$WORK/out.log" ||
  fail "no file:line:column: $(cat "$WORK/out.log")"
pass
