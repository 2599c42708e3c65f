#!/bin/bash
# Issue 13, point 4: a NUL byte in argv, env or cwd (which execve and chdir
# cannot take) once made the shim refuse every attempt, and each refusal was
# requeued: ~64 attempts a second for ever, the log flooding, the queue's
# slot taken. As two real users sharing one queue of one slot:
#   A. alice's submits with a NUL byte (in an argument, an environment entry,
#      the cwd), an environment entry without '=', a relative cwd or no
#      command reach the daemon (raw-submit: taskctl cannot send a NUL) and
#      are refused with 65, naming the field; nothing is stored, no event is
#      recorded, no id is spent, and bob's tasks run meanwhile. A client
#      older than 0.2 (flat fields, no SubmitRequest.spec) is checked alike
#      and its good submit runs.
#   B. a task with a NUL byte already in the store (kept by a daemon from
#      before submit checked for one; store-put-task) is refused by the real
#      shim: it ends failed, reason spawn, exit 126, with the shim's message,
#      after one attempt, never requeued; bob's tasks run meanwhile.
. "$(dirname "$0")/lib.sh"
make_user alice
make_user bob
printf '[queues.shared]\nconcurrency = 1\n' >"$CONFIG"
start_daemon
# raw USER ARGS...: raw-submit as USER on this scenario's socket.
raw() { local u=$1; shift; (cd /tmp && runuser -u "$u" -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/raw-submit" "$@"); }
# bob_runs: a task of bob's in the shared queue starts and succeeds within 20 s.
bob_runs() {
  local id
  id=$(AS_USER "$bob" submit --queue shared -- true) || fail "bob's submit failed"
  timeout 20 "$BIN/taskctl" wait "$id" || fail "bob's task $id did not succeed within 20 s ($1)"
}

# --- A: refused at submit ---
first=$(AS_USER "$bob" submit --queue shared -- true)
T wait "$first"
seq_before=$(T status --json "$first" | json last_seq)
list_before=$(T list --all-users --json)
refused() { local want=$1; shift; local rc=0
  raw "$alice" --queue shared "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ $rc = 65 ] || fail "raw-submit $*: exit $rc, want 65 ($(cat "$WORK/err"); stdout $(cat "$WORK/out"))"
  grep -qF -- "$want" "$WORK/err" || fail "raw-submit $*: no \"$want\" in: $(cat "$WORK/err")"
  [ ! -s "$WORK/out" ] || fail "raw-submit $*: printed an id: $(cat "$WORK/out")"; }
refused 'argv[2] holds a NUL byte' -- sh -c 'touch /tmp/refused-command-ran-$$\0'
refused 'environment entry 1 holds a NUL byte' --env PATH=/usr/bin:/bin --env 'A=1\0B=2' -- true
refused 'environment entry 0 is not NAME=VALUE' --env NOEQUALS -- true
refused 'cwd holds a NUL byte' --cwd '/tmp\0/x' -- true
refused 'cwd "tmp" is not an absolute path' --cwd tmp -- true
refused 'empty command' --
# A client older than 0.2 (the flat fields, no spec) is checked alike.
refused 'cwd "tmp" is not an absolute path' --old-client --cwd tmp -- true
[ ! -e "/tmp/refused-command-ran-$$" ] || fail "alice's command ran"
[ "$(T list --all-users --json)" = "$list_before" ] || fail "a refused submit stored something"
[ "$(T status --json "$first" | json last_seq)" = "$seq_before" ] ||
  fail "a refused submit recorded an event"
bob_runs "after alice's refused submits"
# No id was spent on a refusal: bob's was the next one after $first.
[ "$(T list --all-users --json | json 1 id)" = $((first + 1)) ] || fail "a refused submit took an id"
# The same client's good submit is taken: the refusals were the daemon's.
good=$(raw "$alice" --queue shared --env PATH=/usr/bin:/bin -- true) || fail "a good raw submit was refused"
timeout 20 "$BIN/taskctl" wait "$good" || fail "alice's good task did not succeed"
old=$(raw "$alice" --old-client --queue shared --env PATH=/usr/bin:/bin -- true) ||
  fail "an old client's good submit was refused"
timeout 20 "$BIN/taskctl" wait "$old" || fail "an old client's task did not succeed"

# --- B: the shim's refusal of a stored command ---
stop_daemon
stored=$("$BIN/store-put-task" "$STATE" "$(id -u "$alice")" "$(id -g "$alice")" shared \
         sh -c 'touch /tmp/refused-command-ran-$$\0')
start_daemon
bob_runs "beside alice's refused stored command"
rc=0; timeout 20 "$BIN/taskctl" wait "$stored" || rc=$?
[ $rc = 126 ] || fail "the refused command's wait exited $rc, want 126"
bob_runs "after alice's refused stored command"
sleep 1  # a requeue would have started it again by now
T status --json "$stored" >"$WORK/status.json"
state=$(json state <"$WORK/status.json"); reason=$(json reason <"$WORK/status.json")
[ "$state/$reason" = failed/spawn ] || fail "the refused command ended $state/$reason"
json message <"$WORK/status.json" | grep -qF "taskctl-exec refused the command: an argument of the spec holds a NUL byte" ||
  fail "no shim message: $(json message <"$WORK/status.json")"
attempts=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["attempts"]))' <"$WORK/status.json")
[ "$attempts" = 1 ] || fail "the refused command was tried $attempts times"
[ ! -e "/tmp/refused-command-ran-$$" ] || fail "alice's command ran"
! grep -q "never started" "$WORK/daemon.log" || fail "the daemon requeued a refusal"
pass
