#!/bin/bash
# hold/release (issue 16): a held task is never dispatched (state waiting,
# `why` says held), submit --hold submits held, hold refuses a running or
# ended task, held survives a restart, `watch --from` replays the hold and
# the release, and another user's hold/release/why of alice's task answers
# like a missing id (65).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it makes users)"
printf '[queues.one]\nconcurrency = 1\n' >"$CONFIG"
start_daemon
blocker=$(T submit --queue one -- sleep 300)
queued=$(T submit --queue one -- true)
held=$(T submit --hold -- true)
for _ in $(seq 100); do [ "$(T status --json "$blocker" | json state)" = running ] && break; sleep 0.05; done
[ "$(T status --json "$held" | json state)" = waiting ] || fail "submit --hold: not waiting"
[ "$(T status --json "$held" | json held)" = True ] || fail "submit --hold: not held"
T why "$held" | grep -qx "task $held: held (taskctl release $held)" || fail "why: $(T why "$held")"
sleep 0.3
[ "$(T status --json "$held" | json state)" = waiting ] || fail "a held task was dispatched"

# A queued task goes back to waiting; --json answers the tasks as they are.
out=$(T --json hold "$queued")
[ "$(echo "$out" | json 0 state)" = waiting ] || fail "hold --json: $out"
[ "$(echo "$out" | json 0 held)" = True ] || fail "hold --json: $out"
T hold "$queued" || fail "holding a held task is not a no-op"
# Running and ended tasks are refused, and a refusal changes nothing (all or nothing).
rc=0; T hold "$held" "$blocker" 2>"$WORK/err" || rc=$?
[ $rc = 65 ] || fail "hold of a running task exited $rc"
grep -q "task $blocker is running" "$WORK/err" || fail "refusal: $(cat "$WORK/err")"
rc=0; T release "$queued" "$((held + 1000))" 2>/dev/null || rc=$?
[ $rc = 65 ] || fail "release with an unknown id exited $rc"
[ "$(T status --json "$queued" | json held)" = True ] || fail "a refused release changed a task"

# Held across a restart, and still not dispatched when its queue frees up.
stop_daemon
start_daemon
[ "$(T status --json "$queued" | json held)" = True ] || fail "held lost over a restart"
[ "$(T status --json "$queued" | json state)" = waiting ] || fail "not waiting after a restart"
T status "$queued" | grep -q "^ *why: *held (taskctl release $queued)" || fail "status: $(T status "$queued")"
T cancel "$blocker"
sleep 0.3
[ "$(T status --json "$queued" | json state)" = waiting ] || fail "a held task ran once the slot freed"

# Another user cannot tell alice's task from a missing one.
make_user alice
make_user bob
theirs=$(AS_USER "$alice" submit --hold -- true)
reads_as_missing "$bob" "$theirs" hold release why
[ "$(T status --json "$theirs" | json held)" = True ] || fail "bob released alice's task"
AS_USER "$alice" release "$theirs" || fail "alice cannot release her own task"
T wait "$theirs" || fail "alice's released task failed"

# Release runs them; both appear in the replay with their actions.
T release "$queued" "$held"
timeout 10 "$BIN/taskctl" wait "$queued" "$held" || fail "released tasks did not run"
timeout 2 "$BIN/taskctl" --json watch --from 1 "$queued" >"$WORK/events" || true
python3 - "$WORK/events" <<'PY' || fail "watch --from replay: $(cat "$WORK/events")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
seq = [(e["from"], e["to"], e["action"]) for e in ev]
assert ("queued", "waiting", "held") in seq, seq
assert ("waiting", "waiting", "released") in seq, seq
assert seq.index(("waiting", "waiting", "released")) + 1 == seq.index(("waiting", "queued", None)), seq
assert all(e["action"] in (None, "held", "released") for e in ev), seq
PY
timeout 2 "$BIN/taskctl" watch --from 1 "$held" >"$WORK/text" || true
grep -q "new -> waiting  attempt 0  held$" "$WORK/text" || fail "watch text: $(cat "$WORK/text")"
grep -q "released$" "$WORK/text" || fail "watch text: $(cat "$WORK/text")"
pass
