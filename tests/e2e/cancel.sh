#!/bin/bash
# cancel: a queued task at once, a running one (and what it started) by
# SIGTERM; both then `wait` 130.
. "$(dirname "$0")/lib.sh"
printf '[queues.one]\nconcurrency = 1\n' >"$CONFIG"
start_daemon
running=$(T submit --queue one -- sh -c 'sleep 300 & echo $! >"$0"; wait' "$WORK/child")
queued=$(T submit --queue one -- true)
for _ in $(seq 100); do [ -s "$WORK/child" ] && break; sleep 0.05; done
[ "$(T status --json "$queued" | json state)" = queued ] || fail "second task is not queued"
T cancel "$queued"
rc=0; T wait "$queued" || rc=$?; [ $rc = 130 ] || fail "queued: wait exited $rc"
T cancel "$running"
rc=0; timeout 5 "$BIN/taskctl" wait "$running" || rc=$?; [ $rc = 130 ] || fail "running: wait exited $rc"
[ "$(T status --json "$running" | json state)" = cancelled ] || fail "not cancelled"
sleep 0.2
# Gone, or a zombie waiting for an init that may not reap here: either way dead.
st=$(ps -o stat= -p "$(cat "$WORK/child")" || true)
[ -z "$st" ] || [[ "$st" == Z* ]] || fail "the task's child survived the cancel ($st)"
T cancel "$running" || fail "cancelling a finished task is not a no-op"
pass
