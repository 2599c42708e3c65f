#!/bin/bash
# An invalid config stops the daemon at start with file:line:column.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = "lots"\n' >"$CONFIG"
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" \
    >"$WORK/out.log" 2>&1 || rc=$?
[ $rc != 0 ] || fail "started with an invalid config"
grep -q "$CONFIG:2:15: queues.default.concurrency must be an integer" "$WORK/out.log" ||
  fail "no file:line:column: $(cat "$WORK/out.log")"

# runner and bus take one of a few words, checked at their place in the file too.
printf '[daemon]\nrunner = "scope"\nbus = "session"\n' >"$CONFIG"
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" \
    >"$WORK/bus.log" 2>&1 || rc=$?
[ $rc = 1 ] || fail "a bad bus in the config: exit $rc, want 1: $(cat "$WORK/bus.log")"
grep -q "$CONFIG:3:7: bus must be \"system\" or \"none\"" "$WORK/bus.log" ||
  fail "bad bus: no file:line:column: $(cat "$WORK/bus.log")"

# The same words as flags: a bad one is a usage error (64) naming the flag.
: >"$CONFIG"
bad_flag() {  # bad_flag FLAG VALUE MESSAGE
  local rc=0
  "$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" "$1" "$2" \
      >"$WORK/flag.log" 2>&1 || rc=$?
  [ $rc = 64 ] || fail "$1 $2: exit $rc, want 64: $(cat "$WORK/flag.log")"
  grep -qF -- "$3" "$WORK/flag.log" || fail "$1 $2: $(cat "$WORK/flag.log")"
}
bad_flag --runner fast '--runner must be auto, scope or direct, not "fast"'
bad_flag --bus session '--bus must be system or none, not "session"'
[ ! -e "$TASKCTL_SOCKET" ] || fail "a refused start left a socket"
pass
