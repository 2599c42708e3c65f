#!/bin/bash
# edit ID (issue 16): a task that has not started (waiting or queued) is
# changed in place and the change takes effect: its priority reorders its
# queue, a new queue's concurrency applies, the new command runs (with the
# caller's environment and directory, as a submit's), new limits and
# dependencies apply (an --after on an ended task behaves as at submit); a
# refused edit changes nothing; a running or ended task refuses; an edit
# survives a restart; `watch --from` replays "edited"; another user's edit of
# alice's task answers like a missing id (65).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it makes users)"
printf '[queues.one]\nconcurrency = 1\n[queues.two]\nconcurrency = 1\n' >"$CONFIG"
start_daemon
state() { T status --json "$1" | json state; }
until_state() { # ID STATE: within 5 s
  for _ in $(seq 100); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.05; done
  fail "task $1 is $(state "$1"), not $2"
}

blocker=$(T submit --queue one -- sleep 300)
until_state "$blocker" running
a=$(T submit --queue one -- sh -c "echo a >>'$WORK/order'")
b=$(T submit --queue one -- sh -c "echo b >>'$WORK/order'")
mover=$(T submit --queue one -- sleep 300)
second=$(T submit --queue one -- sleep 300)
[ "$(state "$b")" = queued ] || fail "b is $(state "$b")"

# A running task refuses, and says so.
rc=0; T edit "$blocker" --priority 3 2>"$WORK/err" || rc=$?
[ $rc = 65 ] || fail "edit of a running task exited $rc"
grep -q "task $blocker is running: edit changes only a task that has not started" "$WORK/err" ||
  fail "refusal: $(cat "$WORK/err")"

# A refused edit changes nothing: the same status before and after, whatever
# part of it was refused (an unknown queue, a dependency on a newer task, a
# priority above what a user may set is the daemon's, here as root none).
T status --json "$b" >"$WORK/before"
for refused in "--queue nosuch --priority 5 -- false" "--priority 7 --after $mover -- false" \
  "--label x=y --after $((b + 1000))" "--memory-grow 2x --retries 1 --retry-on oom"; do
  rc=0; T edit "$b" $refused 2>"$WORK/err" || rc=$?
  [ $rc = 65 ] || fail "edit $refused: exited $rc ($(cat "$WORK/err"))"
  T status --json "$b" >"$WORK/after"
  cmp -s "$WORK/before" "$WORK/after" || fail "a refused edit ($refused) changed the task:
$(diff "$WORK/before" "$WORK/after")"
done
grep -q "no memory limit" "$WORK/err" || grep -q "memory" "$WORK/err" || fail "growth refusal: $(cat "$WORK/err")"

# Priority: b now goes before a. Queue: the mover goes to queue two and starts
# there at once; the second one follows it there and waits, since two runs one
# at a time.
out=$(T --json edit "$b" --priority 10)
[ "$(echo "$out" | json priority)" = 10 ] || fail "edit --json: $out"
[ "$(echo "$out" | json edited_at)" != None ] || fail "edit --json has no edited_at: $out"
T edit "$mover" --queue two
until_state "$mover" running
T edit "$second" --queue two
sleep 0.3
[ "$(state "$second")" = queued ] || fail "queue two's one slot did not apply: $(state "$second")"
[ "$(T status --json "$second" | json queue)" = two ] || fail "not moved to queue two"
T status "$second" | grep -q "^ *why: .*queue two's 1 slot" || fail "why: $(T status "$second")"
T cancel "$mover" "$second" >/dev/null

# The command: a new one runs, with the caller's environment and directory.
mkdir "$WORK/here"
cmd=$(T submit --hold -- sh -c 'echo old')
(cd "$WORK/here" && FOO=edited T edit "$cmd" -- sh -c 'echo "new $FOO $(pwd)"')
# Limits: a new timeout ends it. Dependencies: an ended task as at submit.
slow=$(T submit --hold -- sleep 30)
T edit "$slow" --timeout 1s
ok=$(T submit -- true)
T wait "$ok"
bad=$(T submit -- false)
T wait "$bad" || true
dep=$(T submit --queue two --after "$blocker" -- true)
depbad=$(T submit --queue two --after "$blocker" -- true)
[ "$(state "$dep")" = waiting ] || fail "dep is $(state "$dep")"
T edit "$dep" --after "$ok"
T edit "$depbad" --after "$bad"
T wait "$dep" || fail "an edit onto a succeeded dependency did not run the task"
[ "$(state "$depbad")" = cancelled ] || fail "depbad is $(state "$depbad")"
T status "$depbad" | grep -q "dependency failed: $bad failed" || fail "depbad: $(T status "$depbad")"

# An ended task refuses, and says what to do instead.
rc=0; T edit "$ok" --priority 1 2>"$WORK/err" || rc=$?
[ $rc = 65 ] || fail "edit of an ended task exited $rc"
grep -q "task $ok has ended (succeeded).*taskctl rerun $ok" "$WORK/err" || fail "refusal: $(cat "$WORK/err")"

# An edit survives a restart.
stop_daemon
start_daemon
T status --json "$cmd" >"$WORK/cmd.json"
python3 - "$WORK/cmd.json" <<'PY' || fail "edit lost over a restart: $(cat "$WORK/cmd.json")"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["argv"][-1] == 'echo "new $FOO $(pwd)"', t["argv"]
assert t["edited_at"] is not None
PY
T status "$cmd" | grep -q "^ *edited: " || fail "status does not say edited: $(T status "$cmd")"
T release "$cmd" "$slow"
T wait "$cmd" || fail "the edited command failed"
[ "$(T logs "$cmd")" = "new edited $WORK/here" ] || fail "the edited command's output: $(T logs "$cmd")"
rc=0; T wait "$slow" || rc=$?
[ "$(T status --json "$slow" | json reason)" = timeout ] || fail "the edited timeout: $(T status "$slow")"

# Priority took effect: b before a once the blocker goes.
T cancel "$blocker" >/dev/null
T wait "$a" "$b" || fail "a or b failed"
[ "$(cat "$WORK/order")" = "$(printf 'b\na')" ] || fail "order: $(cat "$WORK/order")"

# The replay has the edits.
timeout 2 "$BIN/taskctl" --json watch --from 1 "$b" "$cmd" >"$WORK/events" || true
python3 - "$WORK/events" "$b" "$cmd" <<'PY' || fail "watch --from replay: $(cat "$WORK/events")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
b, cmd = int(sys.argv[2]), int(sys.argv[3])
got = [(e["id"], e["from"], e["to"], e["action"]) for e in ev]
assert (b, "queued", "queued", "edited") in got, got
assert (cmd, "waiting", "waiting", "edited") in got, got
PY
timeout 2 "$BIN/taskctl" watch --from 1 "$b" >"$WORK/text" || true
grep -q "queued -> queued  attempt 0  edited$" "$WORK/text" || fail "watch text: $(cat "$WORK/text")"

# Another user cannot tell alice's task from a missing one, and changes nothing.
make_user alice
make_user bob
theirs=$(AS_USER "$alice" submit --hold -- true)
missing=$((theirs + 1000))
AS_USER "$alice" status --json "$theirs" >"$WORK/before"
rc1=0; rc2=0
AS_USER "$bob" edit "$theirs" --priority -5 >/dev/null 2>"$WORK/e1" || rc1=$?
AS_USER "$bob" edit "$missing" --priority -5 >/dev/null 2>"$WORK/e2" || rc2=$?
[ $rc1 = 65 ] && [ $rc2 = 65 ] || fail "edit: exits $rc1 and $rc2, want 65 and 65"
[ "$(sed "s/$theirs/ID/" "$WORK/e1")" = "$(sed "s/$missing/ID/" "$WORK/e2")" ] ||
  fail "edit: '$(cat "$WORK/e1")' differs from '$(cat "$WORK/e2")'"
AS_USER "$alice" status --json "$theirs" >"$WORK/after"
cmp -s "$WORK/before" "$WORK/after" || fail "bob's edit changed alice's task"
AS_USER "$alice" edit "$theirs" --priority -5 || fail "alice cannot edit her own task"
AS_USER "$alice" release "$theirs"
T wait "$theirs" || fail "alice's edited task failed"
pass
