#!/bin/bash
# Issue 13, point 1: one user's 2,000 open connections cannot take the daemon
# down or shut another user out.
#
# 1. The daemon starts at the usual soft RLIMIT_NOFILE of 1024 (where ~1,009
#    connections used to make accept() fail with EMFILE and end the daemon).
#    alice holds 2,000 connections open; meanwhile bob's submits and waits
#    succeed, the daemon keeps its pid and a bounded number of fds (alice
#    holds at most access.max_connections_per_user = 64 of them), and alice's
#    own taskctl is told why (exit 75, naming the limit). The daemon raised
#    its soft limit to the hard one; its tasks still start with 1024.
# 2. With no cap and its open-file limit lowered to 1024 (soft and hard): alice's
#    flood does exhaust its fds, accept() fails, and the daemon waits and
#    retries instead of exiting; once she lets go, bob is served again.
. "$(dirname "$0")/lib.sh"
make_user alice
make_user bob
HARD=$(ulimit -Hn)
[ "$HARD" -ge 4096 ] || fail "this scenario needs a hard open-file limit of 4096 or more (have $HARD)"

# flood: alice opens 2,000 connections (a blocking connect with a timeout
# each, 60 s at most in all), writes how many are open to $WORK/alice/ready,
# then holds them until killed (120 s at most). Its pid goes to FLOOD_PID.
FLOOD_PID=
mkdir "$WORK/alice" && chown "$alice" "$WORK/alice"
flood() {
  rm -f "$WORK/alice/ready"
  setpriv --reuid "$(id -u "$alice")" --regid "$(id -g "$alice")" --clear-groups \
    /usr/bin/python3 - "$TASKCTL_SOCKET" "$WORK/alice/ready" <<'PY' &
import resource, socket, sys, time
path, ready = sys.argv[1], sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held, failed, deadline = [], 0, time.time() + 60
for i in range(2000):
    if time.time() > deadline:
        break
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    try:
        s.connect(path)
        held.append(s)
    except OSError:
        failed += 1
        s.close()
with open(ready + ".tmp", "w") as f:
    f.write(f"{len(held)} {failed}\n")
import os; os.rename(ready + ".tmp", ready)
time.sleep(120)
PY
  FLOOD_PID=$!
  for _ in $(seq 1200); do
    [ -f "$WORK/alice/ready" ] && return 0
    kill -0 "$FLOOD_PID" 2>/dev/null || fail "the flood script ended early"
    sleep 0.05
  done
  fail "the flood did not open its connections within 60 s"
}
stop_flood() {
  if [ -n "$FLOOD_PID" ]; then kill -KILL "$FLOOD_PID" 2>/dev/null || true; wait "$FLOOD_PID" 2>/dev/null || true; fi
  FLOOD_PID=
}
trap 'stop_flood; cleanup' EXIT

# bob_works N: N submits, each waited for, all as bob; fails the scenario otherwise.
bob_works() {
  for i in $(seq "$1"); do
    id=$(AS_USER "$bob" submit -- true) || fail "bob's submit $i failed during alice's flood"
    AS_USER "$bob" wait "$id" >/dev/null || fail "bob's wait $i (task $id) failed"
  done
}

# --- 1. The default cap, the usual soft limit.
ulimit -Sn 1024
start_daemon
ulimit -Sn "$HARD"
pid=$DAEMON_PID
# The daemon raised its own soft limit; a task still starts with 1024.
grep -Eq "^Max open files +$HARD +$HARD " /proc/$pid/limits ||
  fail "the daemon's open-file limit: $(grep 'Max open files' /proc/$pid/limits)"
id=$(AS_USER "$bob" submit -- sh -c 'ulimit -Sn; ulimit -Hn') || fail "bob's submit failed"
AS_USER "$bob" wait "$id" >/dev/null || fail "bob's task $id failed"
[ "$(AS_USER "$bob" logs "$id" | tr '\n' ' ')" = "1024 $HARD " ] ||
  fail "a task's open-file limits (soft, hard): $(AS_USER "$bob" logs "$id" | tr '\n' ' ')"
flood
read -r open failed <"$WORK/alice/ready"
echo "alice holds $open connections ($failed failed)"
kill -0 "$pid" 2>/dev/null || fail "the daemon died under alice's 2,000 connections"
bob_works 5
kill -0 "$pid" 2>/dev/null || fail "the daemon died"
# alice is told why. Her refused connections hold a few answer slots for up
# to 5 s, meanwhile a refusal may be a bare close: wait for the clear one.
rc=0
for _ in $(seq 40); do
  rc=0; AS_USER "$alice" submit -- true >"$WORK/alice.out" 2>"$WORK/alice.err" || rc=$?
  [ $rc = 75 ] && break
  sleep 0.25
done
[ $rc = 75 ] || fail "alice's submit over the cap exited $rc, want 75: $(cat "$WORK/alice.err")"
grep -q "too many connections: uid $(id -u "$alice") has 64 open to taskctld, the limit is 64 (access.max_connections_per_user)" \
  "$WORK/alice.err" || fail "alice's message: $(cat "$WORK/alice.err")"
fds=$(ls /proc/$pid/fd | wc -l)
[ "$fds" -lt 300 ] || fail "the daemon holds $fds fds during the flood"
bob_works 3
stop_flood
kill -0 "$pid" 2>/dev/null || fail "the daemon died"
# Her connections closed, alice is served again.
for _ in $(seq 50); do AS_USER "$alice" submit -- true >/dev/null 2>&1 && break; sleep 0.1; done
AS_USER "$alice" submit -- true >/dev/null || fail "alice is not served after her flood"
stop_daemon

# --- 2. No cap, and a hard limit the daemon cannot raise: accept() fails.
echo '[access]
max_connections_per_user = 0' >"$CONFIG"
start_daemon
pid=$DAEMON_PID
# Lowering needs no privilege, and this shell keeps its own limits.
prlimit --pid "$pid" --nofile=1024:1024
flood
read -r open failed <"$WORK/alice/ready"
echo "alice holds $open connections ($failed failed) with no cap"
sleep 1
kill -0 "$pid" 2>/dev/null || fail "the daemon exited when accept() failed"
grep -q "accept failed; retrying" "$WORK/daemon.log" || fail "accept() never failed: the flood did not exhaust the fds"
stop_flood
# Within the backoff (at most 1 s) after the fds come back, bob is served.
ok=
for _ in $(seq 50); do
  id=$(AS_USER "$bob" submit -- true 2>/dev/null) && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || fail "bob is not served after alice's flood ended"
AS_USER "$bob" wait "$id" >/dev/null || fail "bob's task $id failed"
kill -0 "$pid" 2>/dev/null || fail "the daemon died"
pass
