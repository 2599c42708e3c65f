#!/bin/bash
# An idle daemon with 100 waiting tasks (delays and dependencies) still
# wakes at most once a second: one timer for the earliest deadline, no polls.
. "$(dirname "$0")/lib.sh"
start_daemon
blocker=$(T submit -- sleep 60)
for i in $(seq 50); do T submit --in 1h -- true >/dev/null; done
for i in $(seq 50); do T submit --after "$blocker" -- true >/dev/null; done
sleep 1
waiting=$(T list --state waiting --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$waiting" = 100 ] || fail "$waiting tasks waiting, not 100"
switches() { awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$DAEMON_PID/status; }
a=$(switches); sleep 10; b=$(switches)
echo "wakeups in 10 s with 100 waiting tasks: $((b - a))"
[ $((b - a)) -le 10 ] || fail "$((b - a)) wakeups in 10 s"
T cancel "$blocker" >/dev/null
pass
