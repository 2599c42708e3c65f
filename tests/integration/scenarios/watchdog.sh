#!/bin/bash
# WatchdogSec=30s: the daemon sends WATCHDOG=1 from its loop (every WATCHDOG_USEC/2), or systemd
# kills it every 30 s. systemd records the time of each ping (WatchdogTimestampMonotonic).
. "$(dirname "$0")/lib.sh"
up
[ "$(prop taskctld.service WatchdogUSec)" = 30s ] || fail "WatchdogSec is $(prop taskctld.service WatchdogUSec)"
pid=$(main_pid)
restarts=$(prop taskctld.service NRestarts)
last=$(prop taskctld.service WatchdogTimestampMonotonic)
pinged() { [ "$(prop taskctld.service WatchdogTimestampMonotonic)" -gt "$last" ]; }
until_ok 20 pinged || fail "no WATCHDOG=1 from taskctld in 20 s (the last ping: monotonic $last us)"
[ "$(main_pid)" = "$pid" ] && [ "$(prop taskctld.service NRestarts)" = "$restarts" ] ||
  fail "taskctld was restarted meanwhile"
pass
