#!/bin/bash
# pause/resume (issue 16), direct runner: a paused CPU burner and its child
# use no CPU (/proc/PID/stat utime+stime), resume continues them, a paused
# task's timeout clock stops (--timeout 2s, paused 3 s, still succeeds), a
# paused task can be cancelled, paused stays paused over a restart and is
# thawed only by `resume`, `watch --from` replays both, and another user's
# pause/resume of alice's task answers like a missing id (65).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it makes users)"
start_daemon

state() { T status --json "$1" | json state; }
wait_state() { # ID STATE: within 5 s
  for _ in $(seq 100); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.05; done
  fail "task $1 is $(state "$1"), not $2"
}
# CPU ticks (utime + stime) of a pid.
ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# The command of a task (the shim's one child) and the command's one child.
command_pid() {
  local shim
  shim=$(T status --json "$1" | json attempts -1 shim_pid)
  cut -d' ' -f1 "/proc/$shim/task/$shim/children"
}
child_pid() { cut -d' ' -f1 "/proc/$1/task/$1/children"; }

# A burner with a burning child: both stop, both go on after resume.
burner=$(T submit -- sh -c 'sh -c "while :; do :; done" & while :; do :; done')
wait_state "$burner" running
for _ in $(seq 100); do
  cmd=$(command_pid "$burner" 2>/dev/null) && child=$(child_pid "$cmd" 2>/dev/null) &&
    [ -n "$child" ] && break
  sleep 0.05
done
[ -n "$child" ] || fail "the burner's child did not start"
out=$(T --json pause "$burner")
[ "$(echo "$out" | json 0 state)" = paused ] || fail "pause --json: $out"
T pause "$burner" || fail "pausing a paused task is not a no-op"
sleep 0.2
a1=$(ticks "$cmd"); b1=$(ticks "$child")
sleep 2.5
a2=$(ticks "$cmd"); b2=$(ticks "$child")
[ $((a2 - a1)) -le 1 ] || fail "a paused command used $((a2 - a1)) ticks"
[ $((b2 - b1)) -le 1 ] || fail "a paused command's child used $((b2 - b1)) ticks"
grep -q '^State:.*stopped' "/proc/$cmd/status" || fail "command not stopped: $(grep State "/proc/$cmd/status")"
[ "$(state "$burner")" = paused ] || fail "not paused in status"
T list | grep -q "^ *$burner .*paused" || fail "list: $(T list)"
T status "$burner" | grep -q "^ *paused: *since" || fail "status: $(T status "$burner")"
T why "$burner" | grep -qx "task $burner is paused (attempt 1; taskctl resume $burner)" ||
  fail "why: $(T why "$burner")"

# Paused across a restart: the re-adopted execution is not thawed.
stop_daemon
start_daemon
[ "$(state "$burner")" = paused ] || fail "paused lost over a restart: $(state "$burner")"
a1=$(ticks "$cmd"); sleep 1; a2=$(ticks "$cmd")
[ $((a2 - a1)) -le 1 ] || fail "a paused command ran after the restart ($((a2 - a1)) ticks)"

T resume "$burner"
[ "$(state "$burner")" = running ] || fail "resume: $(state "$burner")"
T resume "$burner" || fail "resuming a running task is not a no-op"
sleep 1
a3=$(ticks "$cmd"); b3=$(ticks "$child")
[ $((a3 - a2)) -gt 10 ] || fail "the resumed command did not run ($((a3 - a2)) ticks)"
[ $((b3 - b2)) -gt 10 ] || fail "the resumed command's child did not run ($((b3 - b2)) ticks)"
[ "$(T status --json "$burner" | json paused_usec)" -ge 3000000 ] ||
  fail "paused_usec: $(T status --json "$burner" | json paused_usec)"

# Cancel of a paused task: thawed, then TERM (a stopped process would get
# it only once continued); it ends well within the 10 s kill grace.
T pause "$burner"
start=$(date +%s%N)
T cancel "$burner" >/dev/null
timeout 5 "$BIN/taskctl" wait "$burner" >/dev/null 2>&1 || true
[ "$(state "$burner")" = cancelled ] || fail "cancel of a paused task: $(state "$burner")"
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 4000 ] || fail "cancel of a paused task waited the grace"
for _ in $(seq 50); do grep -qs "^State:.*[RS] (" "/proc/$child/status" || break; sleep 0.1; done
grep -qs "^State:.*[RST] (" "/proc/$child/status" && fail "the cancelled task's child still runs: $(grep State "/proc/$child/status")"

# The timeout counts only running time: 2 s, paused 3 s, still succeeds.
timed=$(T submit --timeout 2s -- sleep 1.2)
wait_state "$timed" running
T pause "$timed"
sleep 3
[ "$(state "$timed")" = paused ] || fail "a paused task timed out: $(state "$timed")"
T resume "$timed"
timeout 5 "$BIN/taskctl" wait "$timed" || fail "paused --timeout task: $(T status "$timed")"

# Only a running task can be paused, all or nothing.
queued=$(T submit --hold -- true)
running=$(T submit -- sleep 300)
wait_state "$running" running
rc=0; T pause "$running" "$queued" 2>"$WORK/err" || rc=$?
[ $rc = 65 ] || fail "pause of a waiting task exited $rc"
grep -q "task $queued is waiting" "$WORK/err" || fail "refusal: $(cat "$WORK/err")"
[ "$(state "$running")" = running ] || fail "a refused pause changed a task"
rc=0; T pause "$timed" 2>/dev/null || rc=$?
[ $rc = 65 ] || fail "pause of an ended task exited $rc"

# Another user cannot tell alice's task from a missing one.
make_user alice
make_user bob
theirs=$(AS_USER "$alice" submit -- sleep 300)
wait_state "$theirs" running
reads_as_missing "$bob" "$theirs" pause resume
[ "$(state "$theirs")" = running ] || fail "bob paused alice's task"
AS_USER "$alice" pause "$theirs" || fail "alice cannot pause her own task"
AS_USER "$alice" resume "$theirs" || fail "alice cannot resume her own task"
T cancel "$theirs" "$running" "$queued" >/dev/null

# Both changes are in the replay, with their actions.
timeout 2 "$BIN/taskctl" --json watch --from 1 "$timed" >"$WORK/events" || true
python3 - "$WORK/events" <<'PY' || fail "watch --from replay: $(cat "$WORK/events")"
import json, sys
seq = [(e["from"], e["to"], e["action"]) for e in map(json.loads, open(sys.argv[1]))]
assert ("running", "paused", "paused") in seq, seq
assert ("paused", "running", "resumed") in seq, seq
assert seq[-1][1] == "succeeded", seq
PY
pass
