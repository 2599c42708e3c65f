#!/bin/bash
# drain/undrain (issue 16): while drained no queue starts anything (queued
# tasks stay queued, `why` says taskctld is drained, not that a queue is
# paused) and running work finishes; `drain --wait` answers right after the
# last running task ends; a restart keeps it drained; undrain starts the
# queued ones; a plain user is refused (77) and changes nothing; both changes
# are events (task 0) that `watch --from` replays, to every user.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it makes users)"
printf '[queues.one]\nconcurrency = 1\n[queues.two]\nconcurrency = 4\n' >"$CONFIG"
start_daemon
make_user bob
mkfifo "$WORK/go"
chmod 666 "$WORK/go"
# Runs until the scenario writes a line to the fifo.
running=$(T submit --queue one -- sh -c "${RECORD_PID}read line <'$WORK/go'")
queued=$(T submit --queue one -- true)
for _ in $(seq 100); do [ "$(T status --json "$running" | json state)" = running ] && break; sleep 0.05; done
[ "$(T status --json "$running" | json state)" = running ] || fail "the first task did not start"

# A plain user is refused, and nothing changes.
rc=0; AS_USER "$bob" drain 2>"$WORK/err" || rc=$?
[ $rc = 77 ] || fail "bob's drain exited $rc"
grep -q "permission denied" "$WORK/err" || fail "bob's drain: $(cat "$WORK/err")"
[ "$(T --json queue list | json 0 drained)" = False ] || fail "a refused drain drained"

out=$(T drain)
[ "$out" = "taskctld is drained; 1 task still running" ] || fail "drain printed '$out'"
[ "$(T --json queue list | json 0 drained)" = True ] || fail "queue list: not drained"
T queue list | grep -q "^one .*  drained$" || fail "queue list: $(T queue list)"
# A queue with free slots starts nothing either, and why tells drained from paused.
other=$(T submit --queue two -- true)
T queue pause two >/dev/null
sleep 0.3
[ "$(T status --json "$other" | json state)" = queued ] || fail "a task started while drained"
T why "$other" | grep -qx "task $other: taskctld is drained (taskctl undrain), and queue two is paused (taskctl queue resume two)" ||
  fail "why (drained and paused): $(T why "$other")"
T queue resume two >/dev/null
T why "$queued" | grep -qx "task $queued: taskctld is drained (taskctl undrain)" || fail "why: $(T why "$queued")"
[ "$(T status --json "$running" | json state)" = running ] || fail "drain stopped the running task"

# A restart keeps it drained: nothing starts, the running task is still there.
stop_daemon
start_daemon
[ "$(T --json queue list | json 0 drained)" = True ] || fail "drained lost over a restart"
sleep 0.3
[ "$(T status --json "$other" | json state)" = queued ] || fail "a task started after the restart"
T status "$other" | grep -q "taskctld is drained (taskctl undrain)" || fail "status: $(T status "$other")"

# drain --wait on a drained daemon waits for the running task, and answers when it ends.
T drain --wait >"$WORK/wait.out" 2>&1 &
waiter=$!
sleep 0.5
kill -0 "$waiter" 2>/dev/null || fail "drain --wait returned while a task ran: $(cat "$WORK/wait.out")"
echo done >"$WORK/go"
ended=$(date +%s%N)
rc=0; timeout 10 tail --pid="$waiter" -f /dev/null || rc=$?
[ $rc = 0 ] || fail "drain --wait did not return once the task ended"
wait "$waiter" || fail "drain --wait failed: $(cat "$WORK/wait.out")"
took=$((($(date +%s%N) - ended) / 1000000))
[ "$took" -lt 2000 ] || fail "drain --wait took ${took} ms after the task ended"
[ "$(cat "$WORK/wait.out")" = "taskctld is drained; nothing runs" ] || fail "drain --wait: $(cat "$WORK/wait.out")"
[ "$(T status --json "$running" | json state)" = succeeded ] || fail "the running task did not finish"
sleep 0.3
[ "$(T status --json "$queued" | json state)" = queued ] || fail "a queued task started once the slot freed"
[ "$(T --json drain --wait)" = '{"drained":true,"running":0}' ] || fail "drain --wait --json with nothing running"

# Undrain: bob may not; root's starts the queued ones.
rc=0; AS_USER "$bob" undrain 2>/dev/null || rc=$?
[ $rc = 77 ] || fail "bob's undrain exited $rc"
[ "$(T undrain)" = "taskctld is undrained; queues start tasks again" ] || fail "undrain output"
[ "$(T --json queue list | json 0 drained)" = False ] || fail "still drained"
timeout 10 "$BIN/taskctl" wait "$queued" "$other" || fail "undrain did not start the queued tasks"

# One event each (a second drain changed nothing), task 0, replayed; bob sees them too.
timeout 2 "$BIN/taskctl" --json watch --from 1 >"$WORK/events" || true
(cd /tmp && timeout 2 runuser -u "$bob" -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" --json watch --from 1) >"$WORK/bob-events" 2>/dev/null || true
python3 - "$WORK/events" "$WORK/bob-events" <<'PY' || fail "watch --from replay: $(cat "$WORK/events")"
import json, sys
for path in sys.argv[1:]:
    ev = [json.loads(l) for l in open(path)]
    daemon = [(e["event"], e["id"], e["uid"], e["from"], e["to"], e["action"]) for e in ev if e["id"] == 0]
    assert daemon == [("daemon", 0, 0, None, None, "drained"), ("daemon", 0, 0, None, None, "undrained")], (path, daemon)
ev = [json.loads(l) for l in open(sys.argv[1])]
seqs = [e["seq"] for e in ev]
assert seqs == sorted(seqs), seqs
PY
timeout 2 "$BIN/taskctl" watch --from 1 >"$WORK/text" || true
grep -q "  taskctld drained by uid 0$" "$WORK/text" || fail "watch text: $(cat "$WORK/text")"
pass
