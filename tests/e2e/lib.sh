# Shared by every end-to-end scenario: a real taskctld on a scratch state
# directory and socket, the real taskctl, and cleanup however the script ends.
#
#   . "$(dirname "$0")/lib.sh"      (BIN is the directory with the binaries)
#   start_daemon [taskctld flags...]; T submit -- true; ...; pass
set -euo pipefail

BIN=${BIN:?set BIN to the directory holding taskctld, taskctl and taskctl-exec}
WORK=$(mktemp -d /tmp/taskctl-e2e.XXXXXX)
chmod 755 "$WORK"                      # other users (nobody) reach the socket
export TASKCTL_SOCKET=$WORK/sock
STATE=$WORK/state
DAEMON_PID=

cleanup() {
  local rc=$?
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  # Commands of this scenario that may outlive the daemon (RECORD_PID below): each one's process
  # group (the shim makes the command a group leader), and only while the pid is still the
  # process that recorded it (the same start time), never a process found by name.
  local pid start
  if [ -f "$COMMAND_PIDS" ]; then
    while read -r pid start; do
      if [ "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)" = "$start" ]; then
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
    done <"$COMMAND_PIDS"
  fi
  if [ $rc -ne 0 ] && [ -f "$WORK/daemon.log" ]; then
    echo "--- daemon log (last 30 lines) ---" >&2
    tail -n 30 "$WORK/daemon.log" >&2
  fi
  local u
  for u in "${MADE_USERS[@]}"; do
    flock /run/taskctl-e2e-users.lock userdel -f "$u" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A command that may still run when the scenario ends (the daemon killed under it) records its
# pid and start time first, and cleanup ends exactly those:
#   T submit -- sh -c "${RECORD_PID}sleep 30"
COMMAND_PIDS=$WORK/command-pids
RECORD_PID="echo \$\$ \$(cut -d' ' -f22 /proc/\$\$/stat) >>'$COMMAND_PIDS'; "

# make_user VAR: a real local user for this scenario only, its name put in $VAR
# (`make_user alice; AS_USER "$alice" submit -- id`). The name carries the
# scenario's pid, so parallel scenarios never share a user; cleanup removes it.
# useradd/userdel take /etc/passwd's lock and give up after a while: one at a
# time across scenarios.
MADE_USERS=()
make_user() {
  local name="tc$1$$"
  flock /run/taskctl-e2e-users.lock useradd -M -d /nonexistent -s /usr/sbin/nologin "$name" ||
    fail "useradd $name"
  MADE_USERS+=("$name")
  printf -v "$1" %s "$name"
}
# AS USER taskctl ARGS...: run taskctl as USER from /tmp, on this scenario's socket.
AS_USER() { local u=$1; shift; (cd /tmp && runuser -u "$u" -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" "$@"); }
# reads_as_missing USER ID VERB...: `taskctl VERB ID` by USER on another user's task ID exits 65
# with the very message a missing id gets (the id aside), for each VERB: a foreign id tells
# nothing about the task behind it.
reads_as_missing() {
  local user=$1 id=$2 missing=$(($2 + 1000)) verb rc1 rc2; shift 2
  for verb in "$@"; do
    rc1=0; rc2=0
    AS_USER "$user" "$verb" "$id" >/dev/null 2>"$WORK/e1" || rc1=$?
    AS_USER "$user" "$verb" "$missing" >/dev/null 2>"$WORK/e2" || rc2=$?
    [ $rc1 = 65 ] && [ $rc2 = 65 ] || fail "$verb: exits $rc1 and $rc2, want 65 and 65"
    [ "$(sed "s/$id/ID/" "$WORK/e1")" = "$(sed "s/$missing/ID/" "$WORK/e2")" ] ||
      fail "$verb: '$(cat "$WORK/e1")' differs from '$(cat "$WORK/e2")'"
  done
}

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $(basename "$0" .sh)"; }
T() { "$BIN/taskctl" "$@"; }

# The daemon's config for this scenario (TOML text), before start_daemon.
CONFIG=$WORK/taskctld.toml
: >"$CONFIG"

start_daemon() {
  "$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" \
      --runner direct "$@" >>"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 200); do
    [ -S "$TASKCTL_SOCKET" ] && T list >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "taskctld exited at start: $(tail -n 3 "$WORK/daemon.log")"
    sleep 0.05
  done
  fail "taskctld did not come up"
}

# SIGKILL, as a crash would; running commands are not its children's group.
crash_daemon() {
  kill -KILL "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
}

stop_daemon() {
  kill -TERM "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
}

# json FIELD...: read one JSON document on stdin, print a field (python3).
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$@"; }
