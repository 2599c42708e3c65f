#!/bin/bash
# A daemon that accepts but never answers: taskctl gives up after 30 s with
# exit 69 and says so.
. "$(dirname "$0")/lib.sh"
python3 - "$TASKCTL_SOCKET" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
conns = []
end = time.time() + 60
s.settimeout(1)
while time.time() < end:
    try: conns.append(s.accept()[0])
    except socket.timeout: pass
PY
silent=$!
for _ in $(seq 100); do [ -S "$TASKCTL_SOCKET" ] && break; sleep 0.05; done
start=$(date +%s)
rc=0; T list 2>"$WORK/err" || rc=$?
took=$(( $(date +%s) - start ))
kill $silent
[ $rc = 69 ] || fail "exit $rc, want 69"
[ $took -ge 29 ] && [ $took -le 40 ] || fail "gave up after $took s"
grep -q "did not answer" "$WORK/err" || fail "stderr: $(cat "$WORK/err")"
pass
