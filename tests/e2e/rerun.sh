#!/bin/bash
# rerun ID (issue 16): a new task with task ID's spec, whatever ID's state, the
# options given on top; it records where it came from; --after chains on it; a
# foreign id answers like a missing one (65); a pruned one is refused clearly.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it makes a user)"
start_daemon

# A succeeded task: the same command, environment and directory, a new id.
mkdir "$WORK/dir"
ok=$(cd "$WORK/dir" && FOO=bar T submit --label team=a --label run=1 --priority 5 -- \
  sh -c 'echo "$FOO $(pwd) $TASKCTL_TASK_ID"')
T wait "$ok" || fail "task $ok failed"
new=$(T rerun "$ok")
[ -n "$new" ] && [ "$new" != "$ok" ] || fail "rerun printed '$new'"
T wait "$new" || fail "rerun $new failed"
[ "$(T logs "$new")" = "bar $WORK/dir $new" ] || fail "rerun's output: $(T logs "$new")"
T status --json "$new" >"$WORK/new.json"
python3 - "$WORK/new.json" "$ok" <<'PY' || fail "rerun's spec: $(cat "$WORK/new.json")"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["rerun_of"] == int(sys.argv[2]), t["rerun_of"]
assert t["labels"] == {"team": "a", "run": "1"}, t["labels"]
assert t["priority"] == 5, t["priority"]
assert t["state"] == "succeeded", t["state"]
PY
T status "$new" | grep -q "^rerun of: *task $ok$" || fail "status does not say rerun of: $(T status "$new")"
[ "$(T status --json "$ok" | json rerun_of)" = None ] || fail "the original says it is a rerun"

# A failed one and a cancelled one run again as they were.
bad=$(T submit -- sh -c 'exit 3')
rc=0; T wait "$bad" || rc=$?
[ $rc = 3 ] || fail "wait $bad exited $rc"
again=$(T rerun "$bad")
rc=0; T wait "$again" || rc=$?
[ $rc = 3 ] || fail "rerun of a failed task exited $rc, not 3"
long=$(T submit -- sleep 30)
T cancel "$long" >/dev/null
again=$(T rerun "$long" --timeout 1s)
rc=0; T wait "$again" || rc=$?
[ $rc = 124 ] || fail "rerun of a cancelled task with --timeout 1s exited $rc, not 124"
[ "$(T status --json "$again" | json limits timeout_usec)" = 1000000 ] || fail "--timeout not taken"

# Overrides: a command, a label (replacing the old one of its key), the queue's options.
new=$(T rerun "$ok" --label run=2 --priority -3 -- sh -c 'echo other')
T wait "$new" || fail "overridden rerun failed"
[ "$(T logs "$new")" = other ] || fail "the new command did not run: $(T logs "$new")"
T status --json "$new" >"$WORK/o.json"
python3 - "$WORK/o.json" <<'PY' || fail "overrides: $(cat "$WORK/o.json")"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["labels"] == {"team": "a", "run": "2"}, t["labels"]
assert t["priority"] == -3, t["priority"]
PY
# --json: the new task's document.
T --json rerun "$ok" >"$WORK/j.json"
[ "$(json rerun_of <"$WORK/j.json")" = "$ok" ] || fail "rerun --json: $(cat "$WORK/j.json")"
T wait "$(json id <"$WORK/j.json")" || fail "the --json rerun failed"

# Checked as a submit is: a bad option changes nothing.
rc=0; T rerun "$ok" --queue nosuch 2>"$WORK/err" || rc=$?
[ $rc = 65 ] && grep -q 'unknown queue' "$WORK/err" || fail "rerun --queue nosuch: $rc $(cat "$WORK/err")"

# --after chains work on it: the rerun waits for a running task.
gate=$(T submit -- sleep 1)
chained=$(T rerun "$ok" --after "$gate")
[ "$(T status --json "$chained" | json state)" = waiting ] || fail "--after: not waiting"
T wait "$chained" || fail "chained rerun failed"
[ "$(T status --json "$chained" | json state)" = succeeded ] || fail "chained rerun did not run"

# A missing id and another user's: the same 65 and the same words.
make_user alice
make_user bob
mine=$(AS_USER "$alice" submit -- true)
AS_USER "$alice" wait "$mine" || fail "alice's task failed"
missing=$((mine + 1000))
rc1=0; rc2=0
AS_USER "$bob" rerun "$mine" >/dev/null 2>"$WORK/e1" || rc1=$?
AS_USER "$bob" rerun "$missing" >/dev/null 2>"$WORK/e2" || rc2=$?
[ $rc1 = 65 ] && [ $rc2 = 65 ] || fail "bob's rerun: exits $rc1 and $rc2, want 65 and 65"
[ "$(sed "s/$mine/ID/" "$WORK/e1")" = "$(sed "s/$missing/ID/" "$WORK/e2")" ] ||
  fail "'$(cat "$WORK/e1")' differs from '$(cat "$WORK/e2")'"
# Its owner may; so may root, and the new task is still alice's (it runs as her).
theirs=$(AS_USER "$alice" rerun "$mine")
AS_USER "$alice" wait "$theirs" || fail "alice's rerun failed"
byroot=$(T rerun "$mine")
T wait "$byroot" || fail "root's rerun of alice's task failed"
[ "$(T status --json "$byroot" | json uid)" = "$(id -u "$alice")" ] || fail "root's rerun is not alice's"

# An event for the new task, as for a submit.
timeout 1 "$BIN/taskctl" watch --from 1 "$byroot" >"$WORK/w" || true
grep -q "task $byroot  *new -> " "$WORK/w" || fail "no events for the rerun: $(cat "$WORK/w")"

# The client refuses a rerun without an id.
rc=0; T rerun --queue x 2>/dev/null || rc=$?
[ $rc = 64 ] || fail "rerun without an id exited $rc"
pass
