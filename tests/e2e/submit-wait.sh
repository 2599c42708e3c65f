#!/bin/bash
# submit --wait exits like the task; Ctrl-C leaves the task running and says
# how to reattach.
. "$(dirname "$0")/lib.sh"
start_daemon
rc=0; T submit --wait -- sh -c 'exit 3' >"$WORK/out" || rc=$?
[ "$rc" = 3 ] || fail "submit --wait exited $rc, not 3"
id=$(head -n1 "$WORK/out")
[ "$(T status --json "$id" | json state)" = failed ] || fail "no task $id"
# Not through T: a function in the background is a subshell, which would get the signal.
"$BIN/taskctl" submit --wait -- sleep 30 >"$WORK/out2" 2>"$WORK/err2" &
pid=$!
for _ in $(seq 100); do [ -s "$WORK/out2" ] && break; sleep 0.05; done
id=$(head -n1 "$WORK/out2")
sleep 0.3
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "Ctrl-C: exit $rc, not 130"
grep -q "taskctl wait $id" "$WORK/err2" || fail "no reattach hint: $(cat "$WORK/err2")"
state=$(T status --json "$id" | json state)
[ "$state" = running ] || fail "the task is $state after Ctrl-C"
T cancel "$id" >/dev/null
pass
