#!/bin/bash
# Issue 13, point 2: a taskctld not running as root runs every task as
# itself, so it serves only its own uid. Its socket is 0600; and should the
# socket be reachable anyway (loosened by hand, or a socket unit's
# SocketMode=), every other uid is refused on its first call: exit 77, "this
# taskctld ... serves only uid N", and nothing it asked for runs. The owner's
# own submits work.
. "$(dirname "$0")/lib.sh"
make_user owner
make_user bob
OWN=$WORK/owner            # the owner's state and socket live here
mkdir -m 755 "$OWN" && chown "$owner" "$OWN"
SOCK=$OWN/run/sock
owner_uid=$(id -u "$owner")

AS_OWNER() { (cd /tmp && runuser -u "$owner" -- env TASKCTL_SOCKET="$SOCK" "$BIN/taskctl" "$@"); }
AS_BOB() { (cd /tmp && runuser -u "$bob" -- env TASKCTL_SOCKET="$SOCK" "$BIN/taskctl" "$@"); }

setpriv --reuid "$owner_uid" --regid "$(id -g "$owner")" --clear-groups \
  "$BIN/taskctld" --config "$CONFIG" --state-dir "$OWN/state" --socket "$SOCK" \
  --runner direct --bus none >>"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 200); do
  [ -S "$SOCK" ] && AS_OWNER list >/dev/null 2>&1 && break
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "taskctld exited at start: $(tail -n 3 "$WORK/daemon.log")"
  sleep 0.05
done
AS_OWNER list >/dev/null || fail "the owner's daemon did not come up"

# The socket: the owner's, 0600.
[ "$(stat -c '%u %a' "$SOCK")" = "$owner_uid 600" ] ||
  fail "socket is $(stat -c 'uid %u mode %a' "$SOCK"), want uid $owner_uid mode 600"
rc=0; AS_BOB submit -- true >/dev/null 2>"$WORK/bob.err" || rc=$?
[ $rc = 69 ] || fail "bob on a 0600 socket: exit $rc, want 69: $(cat "$WORK/bob.err")"

# Reachable anyway: refused by uid, 77, and nothing runs.
chmod 666 "$SOCK"
marker=$WORK/ran-for-bob
for cmd in "submit -- touch $marker" "list" "status 1" "queue list"; do
  rc=0
  # shellcheck disable=SC2086
  AS_BOB $cmd >/dev/null 2>"$WORK/bob.err" || rc=$?
  [ $rc = 77 ] || fail "bob's '$cmd' on the owner's daemon: exit $rc, want 77: $(cat "$WORK/bob.err")"
  grep -q "permission denied: this taskctld runs as uid $owner_uid, not root, and serves only uid $owner_uid (you are uid $(id -u "$bob"))" \
    "$WORK/bob.err" || fail "bob's message: $(cat "$WORK/bob.err")"
done
# root is no exception: its tasks too would run as the owner.
rc=0; TASKCTL_SOCKET=$SOCK T submit -- touch "$marker" >/dev/null 2>"$WORK/root.err" || rc=$?
[ $rc = 77 ] || fail "root on the owner's daemon: exit $rc, want 77: $(cat "$WORK/root.err")"

# The owner's own task runs, as the owner.
id=$(AS_OWNER submit -- id -u) || fail "the owner's submit failed"
AS_OWNER wait "$id" >/dev/null || fail "the owner's task $id failed"
[ "$(AS_OWNER logs "$id")" = "$owner_uid" ] || fail "the owner's task ran as $(AS_OWNER logs "$id")"
[ "$(AS_OWNER list --json | json 0 id)" = "$id" ] || fail "the owner's list: $(AS_OWNER list --json)"
[ "$(AS_OWNER list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
  fail "tasks other than the owner's were stored: $(AS_OWNER list --json)"
[ ! -e "$marker" ] || fail "bob's (or root's) command ran"
kill -0 "$DAEMON_PID" || fail "the daemon died"
pass
