#!/bin/bash
# An idle daemon has one thread and wakes at most once a second.
. "$(dirname "$0")/lib.sh"
start_daemon
id=$(T submit -- true); T wait "$id"; sleep 1
threads=$(ls /proc/$DAEMON_PID/task | wc -l)
[ "$threads" = 1 ] || fail "$threads threads"
switches() { awk '/^voluntary_ctxt_switches/ {print $2}' /proc/$DAEMON_PID/status; }
a=$(switches); sleep 10; b=$(switches)
echo "wakeups in 10 s: $((b - a))"
[ $((b - a)) -le 10 ] || fail "$((b - a)) wakeups in 10 s"
pass
