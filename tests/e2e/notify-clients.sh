#!/bin/bash
# The heartbeat rules (docs/cli.md, "Heartbeats") with the real sd_notify
# clients inside tasks: python3-systemd, python3-sdnotify and systemd-notify
# (which sends from its own pid, a child of the task). Every datagram is a
# heartbeat; WATCHDOG=trigger ends the attempt `heartbeat` and is retried as
# a miss; EXTEND_TIMEOUT_USEC= moves the --timeout deadline and not the
# heartbeat; X_TASKCTL_PROGRESS= takes 40% and a bad value is logged once.
# The tasks run side by side, so the whole costs a few seconds.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 16\n' >"$CONFIG"
start_daemon
PY=/usr/bin/python3  # Debian's, with the packaged clients (not a pyenv one on PATH)
# Each client, sending its arguments (python: one message, a string).
SYSTEMD="$PY -c 'import sys; from systemd import daemon; sys.exit(0 if daemon.notify(sys.argv[1]) else 1)'"
SDNOTIFY="$PY -c 'import sys, sdnotify; sdnotify.SystemdNotifier(debug=True).notify(sys.argv[1])'"
# sh -c SCRIPT: $0 is the message; sends it 10 times, 0.2 s apart: over 2 s,
# past the 1.5 s heartbeat, so only the datagrams keep the task alive.
beat() { echo "for i in \$(seq 10); do $1 \"\$0\" || exit 9; sleep 0.2; done"; }

# 1. Any datagram keeps a task alive: READY=1 only, from each client, and
#    STATUS= only; WATCHDOG=1 from python3-sdnotify as systemd users write it.
ready_py=$(T submit --heartbeat 1.5s -- sh -c "$(beat "$SYSTEMD")" READY=1)
ready_sd=$(T submit --heartbeat 1.5s -- sh -c "$(beat "$SDNOTIFY")" READY=1)
ready_cli=$(T submit --heartbeat 1.5s -- sh -c "$(beat "systemd-notify")" --ready)
status_cli=$(T submit --heartbeat 1.5s -- sh -c "$(beat "systemd-notify")" --status=working)
watchdog_sd=$(T submit --heartbeat 1.5s -- sh -c "$(beat "$SDNOTIFY")" WATCHDOG=1)
# Silence after one datagram is still silence.
silent=$(T submit --heartbeat 1s -- sh -c "$SYSTEMD WATCHDOG=1; sleep 30")

# 2. WATCHDOG=trigger: ends the attempt at once, reason heartbeat, even
#    without --heartbeat; retried under --retry-on heartbeat like a miss.
trig_py=$(T submit --retries 1 --retry-on heartbeat --backoff 100ms -- \
          sh -c "$SYSTEMD WATCHDOG=trigger; sleep 30")
trig_sd=$(T submit --heartbeat 30s -- sh -c "$SDNOTIFY WATCHDOG=trigger; sleep 30")
trig_cli=$(T submit -- sh -c "systemd-notify WATCHDOG=trigger; sleep 30")

# 3. EXTEND_TIMEOUT_USEC=: a 1 s timeout moved to 2.5 s lets a 2 s task
#    succeed; one moved to 1.5 s still ends it, `timeout`; an extension does
#    not lengthen the heartbeat.
ext_ok=$(T submit --timeout 1s -- sh -c "$SDNOTIFY EXTEND_TIMEOUT_USEC=2500000; sleep 2")
ext_late=$(T submit --timeout 1s -- sh -c "systemd-notify EXTEND_TIMEOUT_USEC=1500000; sleep 30")
ext_hb=$(T submit --timeout 30s --heartbeat 1s -- \
         sh -c "$SYSTEMD EXTEND_TIMEOUT_USEC=20000000; sleep 30")

# 4. X_TASKCTL_PROGRESS= as taskctl progress takes it (40%), and a bad value
#    three times: one line in the daemon's log, naming the task.
pct=$(T submit -- sh -c "systemd-notify X_TASKCTL_PROGRESS=40%; $SYSTEMD X_TASKCTL_PROGRESS=12.5%; sleep 0.5")
bad=$(T submit -- sh -c "for i in 1 2 3; do $SDNOTIFY X_TASKCTL_PROGRESS=lots; done")

waited() { local rc=0; timeout 20 "$BIN/taskctl" wait "$1" >/dev/null || rc=$?; echo $rc; }
reason() { T status --json "$1" | json reason; }
for id in $ready_py $ready_sd $ready_cli $status_cli $watchdog_sd; do
  [ "$(waited "$id")" = 0 ] ||
    fail "task $id, beating without WATCHDOG=1 or with sdnotify, did not succeed: $(T status "$id")"
done
[ "$(waited "$silent")" = 124 ] && [ "$(reason "$silent")" = heartbeat ] ||
  fail "a silent task did not end heartbeat: $(T status "$silent")"

for id in $trig_py $trig_sd $trig_cli; do
  [ "$(waited "$id")" = 124 ] && [ "$(reason "$id")" = heartbeat ] ||
    fail "WATCHDOG=trigger did not end task $id as heartbeat: $(T status "$id")"
  T status --json "$id" | json message | grep -q "WATCHDOG=trigger" ||
    fail "task $id: the message does not say the task triggered: $(T status "$id")"
  # At once: not after a heartbeat (30 s for one of them) or the sleep.
  [ "$(T status --json "$id" | json attempts 0 wall_usec)" -lt 10000000 ] ||
    fail "task $id was not stopped at once by WATCHDOG=trigger: $(T status "$id")"
done
[ "$(T status --json "$trig_py" | json attempts 1 reason)" = heartbeat ] ||
  fail "WATCHDOG=trigger was not retried under --retry-on heartbeat: $(T status "$trig_py")"
[ "$(waited "$ext_ok")" = 0 ] || fail "EXTEND_TIMEOUT_USEC did not extend the timeout: $(T status "$ext_ok")"
[ "$(waited "$ext_late")" = 124 ] && [ "$(reason "$ext_late")" = timeout ] ||
  fail "an extended timeout did not end the task: $(T status "$ext_late")"
T status --json "$ext_late" | json message | grep -q "extended by the task" ||
  fail "the timeout message does not say it was extended: $(T status "$ext_late")"
[ "$(waited "$ext_hb")" = 124 ] && [ "$(reason "$ext_hb")" = heartbeat ] ||
  fail "EXTEND_TIMEOUT_USEC lengthened the heartbeat: $(T status "$ext_hb")"

T wait "$pct" >/dev/null || fail "progress task failed: $(T logs "$pct")"
[ "$(T status --json "$pct" | json attempts 0 progress)" = 0.125 ] ||
  fail "X_TASKCTL_PROGRESS=12.5% not taken: $(T status "$pct")"
T wait "$bad" >/dev/null || fail "bad-progress task failed: $(T logs "$bad")"
n=$(grep -c "X_TASKCTL_PROGRESS=.*id = $bad[^0-9]" "$WORK/daemon.log" || true)
[ "$n" = 1 ] || fail "a malformed progress was logged $n times, want once with the task id:
$(grep X_TASKCTL_PROGRESS "$WORK/daemon.log")"
grep "X_TASKCTL_PROGRESS=.*id = $bad[^0-9]" "$WORK/daemon.log" | grep -q lots ||
  fail "the log line does not show the value"
pass
