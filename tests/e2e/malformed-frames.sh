#!/bin/bash
# 10 000 connections that each write a random frame and close, and one that
# writes a bogus frame header and stays open: the daemon keeps its pid,
# closes the bogus one within 1 s, returns to its open-fd baseline, and
# submits on another connection succeed throughout.
. "$(dirname "$0")/lib.sh"
start_daemon
pid=$DAEMON_PID
baseline=$(ls /proc/$pid/fd | wc -l)
( ok=0; for i in $(seq 100); do T submit -- true >/dev/null && ok=$((ok+1)); sleep 0.02; done
  echo $ok >"$WORK/submits" ) &
submitter=$!
python3 - "$TASKCTL_SOCKET" <<'PY'
import os, random, socket, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX); s.connect(path)
s.sendall(bytes.fromhex("ffffffff00000000"))
s.settimeout(1.0)
start = time.time()
try:
    while s.recv(4096):   # the daemon may say why (an Abort message) before closing
        pass
except socket.timeout:
    sys.exit("the daemon did not close the bogus connection within 1 s")
print(f"bogus connection closed after {time.time() - start:.3f}s")
random.seed(7)
for i in range(10000):
    c = socket.socket(socket.AF_UNIX); c.connect(path)
    c.sendall(os.urandom(random.randint(1, 200))); c.close()
PY
wait $submitter
[ "$(cat "$WORK/submits")" = 100 ] || fail "only $(cat "$WORK/submits") of 100 submits succeeded"
kill -0 $pid || fail "the daemon died"
for _ in $(seq 50); do [ "$(ls /proc/$pid/fd | wc -l)" = "$baseline" ] && break; sleep 0.1; done
[ "$(ls /proc/$pid/fd | wc -l)" = "$baseline" ] || fail "fds: $(ls /proc/$pid/fd | wc -l), baseline $baseline"
T submit -- true >/dev/null || fail "cannot submit after the storm"
pass
