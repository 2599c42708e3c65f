#!/bin/bash
# The packaged units as systemd runs them: enabled, the service READY (Type=notify) with a
# STATUS=, the socket and state directory with their modes, and a task's round trip through
# the socket, for root and for an ordinary user.
. "$(dirname "$0")/lib.sh"
up
for unit in taskctld.socket taskctld.service; do
  [ "$(systemctl is-enabled $unit)" = enabled ] || fail "$unit is not enabled"
done
# Type=notify: `active` means READY=1 arrived.
[ "$(prop taskctld.service Type)" = notify ] || fail "taskctld.service is not Type=notify"
[ "$(readlink /proc/"$(main_pid)"/exe)" = /usr/sbin/taskctld ] || fail "MainPID is not taskctld"
prop taskctld.service StatusText | grep -q running || fail "no STATUS= from taskctld"
journalctl -u taskctld.service -o cat | grep 'taskctld ready' | tail -n 1 | grep -q "$RUNNER" ||
  fail "taskctld does not say it runs the $RUNNER runner"
[ "$(stat -c '%a %F' $SOCK)" = "666 socket" ] || fail "$SOCK: $(stat -c '%a %F' $SOCK)"
[ "$(stat -c %a /run/taskctl)" = 755 ] || fail "/run/taskctl is not 0755"
[ "$(stat -c %a /var/lib/taskctl)" = 700 ] || fail "/var/lib/taskctl is not 0700"

id=$(T submit -- sh -c 'echo hello; exit 3') || fail "submit failed"
rc=0; T wait "$id" || rc=$?
[ $rc = 3 ] || fail "wait exited $rc, want the task's 3"
T logs "$id" | grep -qx hello || fail "the task's log lacks its output"
runuser -u nobody -- taskctl submit --wait -- sh -c '[ "$(id -u)" = 65534 ]' >/dev/null ||
  fail "a task of nobody did not run as nobody (exit $?)"
pass
