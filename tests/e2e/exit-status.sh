#!/bin/bash
# wait exits like the task: its code, 128+N for a signal, 127/126 for spawn.
. "$(dirname "$0")/lib.sh"
start_daemon
expect() { local want=$1; shift; local id rc=0
  id=$(T submit -- "$@"); [[ "$id" =~ ^[0-9]+$ ]] || fail "submit printed '$id'"
  T wait "$id" || rc=$?
  [ "$rc" = "$want" ] || fail "'$*': wait exited $rc, want $want"; }
expect 0 true
expect 3 sh -c 'exit 3'
expect 137 sh -c 'kill -KILL $$'
expect 143 sh -c 'kill -TERM $$'
expect 127 /nonexistent/command
expect 127 no-such-command-anywhere
expect 126 /etc/hostname
id=$(T submit -- /nonexistent/command); T wait "$id" || true
[ "$(T status --json "$id" | json reason)" = spawn ] || fail "reason is not spawn"
T logs "$id" | grep -q "not found" || fail "the spawn message is not in the log"
# submit --wait exits like the task too.
rc=0; T submit --wait -- sh -c 'exit 7' >/dev/null || rc=$?
[ $rc = 7 ] || fail "submit --wait exited $rc, want 7"
pass
