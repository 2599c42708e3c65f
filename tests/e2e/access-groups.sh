#!/bin/bash
# access.submit_group limits who may submit (77 for others, root always may);
# access.admin_group members see and control every task.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it switches to nobody)"
printf '[access]\nsubmit_group = "root"\n' >"$CONFIG"
start_daemon
AS() { (cd /tmp && runuser -u nobody -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" "$@"); }
rc=0; AS submit -- true 2>"$WORK/err" || rc=$?
[ $rc = 77 ] || fail "nobody outside submit_group: exit $rc, want 77"
grep -q "permission denied" "$WORK/err" || fail "stderr: $(cat "$WORK/err")"
root_id=$(T submit -- true); T wait "$root_id"
stop_daemon

# nobody's primary group is nogroup: make that the admin group.
printf '[access]\nadmin_group = "nogroup"\n' >"$CONFIG"
start_daemon
AS status "$root_id" >/dev/null || fail "an admin cannot see root's task"
AS list --all-users --json | grep -q "\"id\": *$root_id" || fail "an admin's list lacks root's task"
pass
