#!/bin/bash
# While the system bus is down (dbus-daemon stopped), KillUnit cannot be called:
# a cancel and a timeout must still deliver their SIGTERM to the scope's
# processes at once (taskctld signals the scope's cgroup itself), not only the
# SIGKILL at the end of the grace period. Both tasks here catch TERM and exit
# with a word; a grace of 120 s means only the TERM can end them in time.
. "$(dirname "$0")/lib.sh"
restore_bus() { systemctl start dbus.socket dbus.service >/dev/null 2>&1 || true; }
trap 'restore_bus; rm -rf "$WORK"' EXIT
up
owned() { busctl --system status io.taskctl1 >/dev/null 2>&1; }
until_ok 10 owned || fail "taskctld does not own io.taskctl1"

polite='trap "echo got TERM; exit 3" TERM; echo started; while :; do sleep 0.1; done'
cancelled=$(T submit --kill-grace 120s -- sh -c "$polite")
timed=$(T submit --timeout 6s --kill-grace 120s -- sh -c "$polite")
running() { [ "$(T status --json "$1" | json state)" = running ]; }
until_ok 10 running "$cancelled" || fail "task $cancelled did not start"
until_ok 10 running "$timed" || fail "task $timed did not start"

since=$(date '+%Y-%m-%d %H:%M:%S')
systemctl stop dbus.socket dbus.service
lost() { journalctl -u taskctld.service --since "$since" --no-pager | grep 'system bus connection lost' >/dev/null; }
until_ok 10 lost || fail "taskctld did not notice that the bus went away"

T cancel "$cancelled" || fail "cancel refused while the bus is down"
rc=0; timeout 20 taskctl wait "$cancelled" || rc=$?
[ $rc = 130 ] || fail "cancelled task: wait exited $rc, want 130 within 20 s (the TERM did not arrive?)"
T logs "$cancelled" | grep -x 'got TERM' >/dev/null || fail "cancelled task's output: $(T logs "$cancelled")"

rc=0; timeout 30 taskctl wait "$timed" || rc=$?
[ $rc = 124 ] || fail "timed-out task: wait exited $rc, want 124 within 30 s (the TERM did not arrive?)"
[ "$(T status --json "$timed" | json reason)" = timeout ] || fail "reason $(T status --json "$timed" | json reason)"
T logs "$timed" | grep -x 'got TERM' >/dev/null || fail "timed-out task's output: $(T logs "$timed")"

restore_bus
until_ok 15 owned || fail "io.taskctl1 not owned again after dbus came back"
T submit --wait -- true >/dev/null || fail "a task after the bus came back did not succeed"
pass
