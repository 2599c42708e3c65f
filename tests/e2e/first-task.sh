#!/bin/bash
# A submitted command runs, its id comes back alone, and status/logs show it.
. "$(dirname "$0")/lib.sh"
start_daemon
id=$(T submit -- sh -c 'echo hello from task $TASKCTL_TASK_ID')
[[ "$id" =~ ^[0-9]+$ ]] || fail "submit printed '$id', not an id"
T wait "$id" || fail "wait exited $?"
[ "$(T status --json "$id" | json state)" = succeeded ] || fail "state is not succeeded"
[ "$(T logs "$id")" = "hello from task $id" ] || fail "logs: $(T logs "$id")"
T list | grep -q "succeeded" || fail "list does not show it"
pass
