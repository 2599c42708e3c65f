#!/bin/bash
# Issue 6, acceptance 4: `systemctl restart dbus` during a stream of submits:
# taskctld owns io.taskctl1 again within 10 s; every submit is accepted and
# every task succeeds (tasks queued while the bus was gone start once it and
# systemd are back, none fails as `spawn`); a running task is unaffected.
. "$(dirname "$0")/lib.sh"
up
owned() { busctl --system status io.taskctl1 >/dev/null 2>&1; }
until_ok 10 owned || fail "taskctld does not own io.taskctl1"
long=$(T submit -- sh -c 'sleep 8; echo survived')
running() { [ "$(T status --json "$long" | json state)" = running ]; }
until_ok 10 running || fail "the long task did not start"

( for i in $(seq 60); do T submit -- true >>"$WORK/ids" || echo "submit $i failed" >>"$WORK/errors"; sleep 0.05; done ) &
submitter=$!
sleep 0.5
since=$(date '+%Y-%m-%d %H:%M:%S')
timeout 60 systemctl restart dbus.service || fail "systemctl restart dbus failed"
t0=$SECONDS
until_ok 10 owned || fail "io.taskctl1 not owned again within 10 s of the restart"
journalctl -u taskctld.service --since "$since" --no-pager | grep 'connected to the system bus again' >/dev/null ||
  fail "taskctld did not see the bus go away and come back"
wait "$submitter"
[ ! -s "$WORK/errors" ] || fail "$(cat "$WORK/errors")"
[ "$(wc -l <"$WORK/ids")" = 60 ] || fail "$(wc -l <"$WORK/ids") of 60 submits answered"
while read -r id; do
  rc=0; timeout 60 taskctl wait "$id" || rc=$?
  [ $rc = 0 ] || fail "task $id: wait $rc, reason $(T status --json "$id" | json reason)"
done <"$WORK/ids"
T wait "$long" || fail "the running task did not survive the bus restart"
[ "$(T logs "$long")" = survived ] || fail "the running task's output: $(T logs "$long")"
pass
