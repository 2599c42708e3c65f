#!/bin/bash
# A second taskctld on the same state directory exits non-zero naming the
# lock; the first keeps serving. One with another state directory but the
# same socket refuses too, naming the socket, and leaves the first one's
# socket alone; a socket file nobody listens on is still replaced.
. "$(dirname "$0")/lib.sh"
start_daemon
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$WORK/other.sock" \
    --runner direct >"$WORK/second.log" 2>&1 || rc=$?
[ $rc != 0 ] || fail "the second daemon exited 0"
grep -q "lock $STATE/lock" "$WORK/second.log" || fail "no lock named: $(cat "$WORK/second.log")"
id=$(T submit -- true); T wait "$id" || fail "the first daemon stopped serving"

# Another state directory, the same socket.
inode=$(stat -c %i "$TASKCTL_SOCKET")
rc=0
timeout 10 "$BIN/taskctld" --config "$CONFIG" --state-dir "$WORK/state2" \
    --socket "$TASKCTL_SOCKET" --runner direct >"$WORK/third.log" 2>&1 || rc=$?
[ $rc != 0 ] && [ $rc != 124 ] ||
  fail "a daemon of another state directory took the socket (exit $rc): $(cat "$WORK/third.log")"
grep -q "socket $TASKCTL_SOCKET is in use" "$WORK/third.log" ||
  fail "no socket named: $(cat "$WORK/third.log")"
[ "$(stat -c %i "$TASKCTL_SOCKET")" = "$inode" ] || fail "the first daemon's socket was replaced"
id=$(T submit -- true); T wait "$id" || fail "the first daemon stopped serving"
[ "$(T status --json "$id" | json id)" = "$id" ] || fail "another daemon answered"

# A leftover socket file (bound, then its listener gone) is replaced.
stale=$WORK/stale.sock
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); s.close()' "$stale"
[ -S "$stale" ] || fail "no stale socket to test with"
"$BIN/taskctld" --config "$CONFIG" --state-dir "$WORK/state3" --socket "$stale" \
    --runner direct >"$WORK/fourth.log" 2>&1 &
FOURTH=$!
up=no
for _ in $(seq 200); do
  if TASKCTL_SOCKET=$stale T list >/dev/null 2>&1; then up=yes; break; fi
  kill -0 "$FOURTH" 2>/dev/null || break
  sleep 0.05
done
kill -TERM "$FOURTH" 2>/dev/null || true
wait "$FOURTH" 2>/dev/null || true
[ $up = yes ] || fail "a stale socket was not replaced: $(cat "$WORK/fourth.log")"
pass
