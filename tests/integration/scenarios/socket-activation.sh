#!/bin/bash
# taskctld.socket: with only the socket listening, a client's first call starts the daemon,
# which serves on systemd's socket rather than binding its own. Stopping the socket stops the
# daemon (Requires=); the path stays (RemoveOnStop=no), a client then gets "unreachable" (69)
# at once, and the socket starts again over the stale file.
. "$(dirname "$0")/lib.sh"
up
systemctl stop taskctld.service
[ "$(systemctl is-active taskctld.socket)" = active ] || fail "stopping the service stopped the socket"
[ "$(systemctl is-active taskctld.service)" = inactive ] || fail "taskctld.service did not stop"
inode=$(stat -c %i $SOCK)

id=$(T submit -- true) || fail "submit to the socket alone failed (exit $?)"
until_ok 10 is_active taskctld.service || fail "the submit did not start taskctld.service"
T wait "$id" || fail "the task did not succeed"
[ "$(stat -c %i $SOCK)" = "$inode" ] || fail "taskctld replaced systemd's socket with its own"

systemctl stop taskctld.socket
[ "$(systemctl is-active taskctld.service)" = inactive ] || fail "stopping the socket left the daemon running"
[ -S $SOCK ] || fail "$SOCK vanished with the socket unit"
rc=0; timeout 20 taskctl list >/dev/null 2>&1 || rc=$?
[ $rc = 69 ] || fail "with nothing listening, taskctl list exited $rc, want 69"
systemctl start taskctld.socket || fail "taskctld.socket did not start over the stale file"
T submit --wait -- true >/dev/null || fail "submit --wait after the socket's restart failed (exit $?)"
pass
