#!/bin/bash
# Issue 13, point 7: a request over the daemon's 8 MiB frame limit is
# answered, not dropped without a word. alice's client (raw-submit: taskctl
# itself bounds what it sends below the limit, and exec would not pass a 9 MiB
# command line) sends a 9 MiB submit and prints, through taskctl's own mapping,
# "request too large (N bytes, limit 8 MiB)", exit 65; a crafted 9 MiB frame
# on a raw socket gets the same words back before the close, with its exact
# size. Nothing is stored, and the daemon serves bob throughout.
. "$(dirname "$0")/lib.sh"
make_user alice
make_user bob
start_daemon
pid=$DAEMON_PID

rc=0
(cd /tmp && runuser -u "$alice" -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" \
    "$BIN/raw-submit" --filler $((9 * 1024 * 1024)) -- true) >"$WORK/out" 2>"$WORK/err" || rc=$?
[ $rc = 65 ] || fail "alice's oversized submit: exit $rc, want 65: $(head -c 300 "$WORK/err")"
grep -Eq '^raw-submit: request too large \([0-9]{7,8} bytes, limit 8 MiB\)$' "$WORK/err" ||
  fail "alice's message: $(head -c 300 "$WORK/err")"
kill -0 "$pid" 2>/dev/null || fail "the daemon died"
[ "$(AS_USER "$alice" list --json)" = "[]" ] || fail "something was stored: $(AS_USER "$alice" list --json)"

# A crafted frame: one segment of 9 MiB (1179648 words) after its 8-byte header.
python3 - "$TASKCTL_SOCKET" <<'PY' || fail "the crafted frame was not answered"
import socket, struct, sys, threading
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(20)
words = 9 * 1024 * 1024 // 8
got = []
def read():
    while True:
        b = s.recv(65536)
        if not b: break
        got.append(b)
reader = threading.Thread(target=read); reader.start()
s.sendall(struct.pack("<II", 0, words) + bytes(words * 8))
reader.join(20)
answer = b"".join(got)
want = b"request too large (9437192 bytes, limit 8 MiB)"
if want not in answer:
    sys.exit(f"the daemon answered {answer[:200]!r}, not {want!r}")
print("crafted frame answered:", want.decode())
PY
kill -0 "$pid" 2>/dev/null || fail "the daemon died"

# Serving as before: bob's submits and waits, alice's normal-sized submit.
for i in 1 2 3; do
  id=$(AS_USER "$bob" submit -- true) || fail "bob's submit $i failed"
  AS_USER "$bob" wait "$id" >/dev/null || fail "bob's task $id failed"
done
id=$(AS_USER "$alice" submit --label=k=v -- true) || fail "alice's ordinary submit failed"
AS_USER "$alice" wait "$id" >/dev/null || fail "alice's task $id failed"
pass
