#!/bin/bash
# Issue 13, point 3: taskctld's state and socket directories where another
# user could create them first ($PUB here, sticky and world-writable like
# /tmp). alice plants what she likes there before root starts the daemon;
# each of the five attacks must find the daemon refusing to start, naming the
# path and the reason, and leave every file it aimed at as it was:
#   1. lock-file truncation (a `lock` link; the state dir itself a link)
#   2. log append into a root file (a log path link)
#   3. a new root file with alice's content (runs/ and logs/ links)
#   4. reading bob's log (a log file of alice's in a logs/ of hers)
#   5. loosening a 0700 directory (a `notify` link in a socket dir of hers),
#      and a state dir planted by alice or writable by others
# Every attack is tried (on old code each one succeeds) before the verdict.
# A root-made directory under the same sticky $PUB is fine, and serves alice.
. "$(dirname "$0")/lib.sh"
make_user alice
make_user bob
alice_uid=$(id -u "$alice")
PUB=$WORK/pub
mkdir -m 1777 "$PUB"
chmod 1777 "$PUB"
# as USER CMD...: a shell command as USER (alice planting her files).
as() { local u=$1; shift; (cd / && runuser -u "$u" -- sh -c "$*"); }
PROBLEMS=()
problem() { echo "attack failed to be refused: $*" >&2; PROBLEMS+=("$*"); }

# try_daemon NAME STATE SOCKET: sets STARTED to "up" (DAEMON_PID set, serving)
# or "refused" (it exited; its output in $WORK/NAME.log).
try_daemon() {
  "$BIN/taskctld" --config "$CONFIG" --state-dir "$2" --socket "$3" --runner direct \
      >"$WORK/$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      STARTED=refused
      return
    fi
    if TASKCTL_SOCKET=$3 T list >/dev/null 2>&1; then
      DAEMON_PID=$pid
      STARTED=up
      return
    fi
    sleep 0.05
  done
  DAEMON_PID=$pid
  fail "$1: taskctld neither served nor exited: $(tail -n 3 "$WORK/$1.log")"
}

# refused NAME TEXT: the daemon's refusal names the path and the reason.
refused() {
  grep -qF -- "$2" "$WORK/$1.log" || problem "$1: no refusal saying \"$2\""
}

# run_as USER SOCKET CMD...: a task of USER's, waited for.
run_as() {
  local u=$1 sock=$2; shift 2
  local id
  id=$(TASKCTL_SOCKET=$sock AS_USER "$u" submit -- "$@") || { problem "submit as $u failed"; return; }
  TASKCTL_SOCKET=$sock timeout 20 "$BIN/taskctl" wait "$id" >/dev/null 2>&1 || true
}

precious() { printf 'precious\n' >"$1"; chmod 644 "$1"; }
unchanged() { [ "$(cat "$2")" = precious ] || problem "$1: root's $2 now holds: $(head -c 80 "$2")"; }
owned_by_alice() { echo "$1 is owned by uid $alice_uid ($alice)"; }

# --- 1. Lock-file truncation ------------------------------------------------------------
# a) alice's state dir, its `lock` a link to a root file.
precious "$WORK/victim1"
as "$alice" "mkdir $PUB/s1 && ln -s $WORK/victim1 $PUB/s1/lock"
try_daemon a1 "$PUB/s1" "$WORK/r1/sock"
if [ $STARTED = up ]; then
  problem "1a: taskctld started on alice's state dir $PUB/s1"; stop_daemon
fi
refused a1 "state directory $PUB/s1: $(owned_by_alice "$PUB/s1")"
unchanged 1a "$WORK/victim1"
# b) the state dir itself a link of alice's, to a root directory holding a `lock`.
mkdir -m 755 "$WORK/etc1"; precious "$WORK/etc1/lock"
as "$alice" "ln -s $WORK/etc1 $PUB/s1b"
try_daemon b1 "$PUB/s1b" "$WORK/r1/sock"
if [ $STARTED = up ]; then
  problem "1b: taskctld followed alice's link $PUB/s1b"; stop_daemon
fi
refused b1 "$(owned_by_alice "$PUB/s1b"), not by root or by taskctld's uid 0 (root), in $PUB, which other users may write in (mode 1777)"
unchanged 1b "$WORK/etc1/lock"
[ ! -e "$WORK/etc1/store" ] || problem "1b: taskctld made its store in $WORK/etc1"

# --- 2. Log append into a root file -----------------------------------------------------
precious "$WORK/victim2"
as "$alice" "mkdir -p $PUB/s2/logs && for i in 1 2 3 4 5; do ln -s $WORK/victim2 $PUB/s2/logs/\$i-1.log; done"
try_daemon a2 "$PUB/s2" "$WORK/r2/sock"
if [ $STARTED = up ]; then
  problem "2: taskctld started on alice's state dir $PUB/s2"
  run_as "$alice" "$WORK/r2/sock" echo appended-by-alice
  stop_daemon
fi
refused a2 "state directory $PUB/s2: $(owned_by_alice "$PUB/s2")"
unchanged 2 "$WORK/victim2"

# --- 3. A new root file with alice's content --------------------------------------------
mkdir -m 755 "$WORK/etc3"
as "$alice" "mkdir $PUB/s3 && ln -s $WORK/etc3 $PUB/s3/logs && ln -s $WORK/etc3 $PUB/s3/runs"
try_daemon a3 "$PUB/s3" "$WORK/r3/sock"
if [ $STARTED = up ]; then
  problem "3: taskctld started on alice's state dir $PUB/s3"
  run_as "$alice" "$WORK/r3/sock" echo '* * * * * root /tmp/evil'
  stop_daemon
fi
refused a3 "state directory $PUB/s3: $(owned_by_alice "$PUB/s3")"
made=$(ls -A "$WORK/etc3")
[ -z "$made" ] || problem "3: root made $made in $WORK/etc3: $(cat "$WORK"/etc3/* 2>/dev/null | head -c 80)"

# --- 4. Reading bob's log ---------------------------------------------------------------
as "$alice" "mkdir -p $PUB/s4/logs && chmod 777 $PUB/s4/logs && for i in 1 2 3 4 5; do touch $PUB/s4/logs/\$i-1.log; chmod 666 $PUB/s4/logs/\$i-1.log; done"
try_daemon a4 "$PUB/s4" "$WORK/r4/sock"
if [ $STARTED = up ]; then
  problem "4: taskctld started on alice's state dir $PUB/s4"
  run_as "$bob" "$WORK/r4/sock" echo "bob-secret-$$"
  stop_daemon
fi
refused a4 "state directory $PUB/s4: $(owned_by_alice "$PUB/s4")"
if as "$alice" "cat $PUB/s4/logs/*" | grep -q "bob-secret-$$"; then
  problem "4: alice read bob's output in her $PUB/s4/logs"
fi

# --- 5. Loosening a 0700 directory ------------------------------------------------------
# a) alice's socket dir, its `notify` a link to a root 0700 directory.
mkdir -m 700 "$WORK/secret"
as "$alice" "mkdir $PUB/r5 && ln -s $WORK/secret $PUB/r5/notify"
try_daemon a5 "$WORK/s5" "$PUB/r5/sock"
if [ $STARTED = up ]; then
  problem "5a: taskctld started on alice's socket dir $PUB/r5"; stop_daemon
fi
refused a5 "socket directory $PUB/r5: $(owned_by_alice "$PUB/r5")"
[ "$(stat -c %a "$WORK/secret")" = 700 ] ||
  problem "5a: root's 0700 $WORK/secret is now $(stat -c %a "$WORK/secret")"
# b) a 0700 state dir alice planted.
as "$alice" "mkdir -m 700 $PUB/s5b"
try_daemon b5 "$PUB/s5b" "$WORK/r5/sock"
if [ $STARTED = up ]; then
  problem "5b: taskctld started on alice's 0700 state dir $PUB/s5b"; stop_daemon
fi
refused b5 "state directory $PUB/s5b: $(owned_by_alice "$PUB/s5b")"
# c) root's own state dir, but writable by everyone.
mkdir -m 777 "$WORK/s5c"; chmod 777 "$WORK/s5c"
try_daemon c5 "$WORK/s5c" "$WORK/r5/sock"
if [ $STARTED = up ]; then
  problem "5c: taskctld started on the world-writable $WORK/s5c"; stop_daemon
fi
refused c5 "state directory $WORK/s5c: $WORK/s5c is writable by other users (mode 0777)"

# --- Under the same sticky $PUB, directories root makes itself are fine -----------------
try_daemon ok "$PUB/ok-state" "$PUB/ok-run/sock"
if [ $STARTED != up ]; then
  fail "taskctld refused directories it made itself under $PUB: $(cat "$WORK/ok.log")"
fi
[ "$(stat -c '%U %a' "$PUB/ok-state")" = "root 700" ] || fail "ok-state: $(stat -c '%U %a' "$PUB/ok-state")"
[ "$(stat -c '%U %a' "$PUB/ok-run/notify")" = "root 755" ] || fail "notify: $(stat -c '%U %a' "$PUB/ok-run/notify")"
id=$(TASKCTL_SOCKET=$PUB/ok-run/sock AS_USER "$alice" submit -- echo hello-alice)
TASKCTL_SOCKET=$PUB/ok-run/sock AS_USER "$alice" wait "$id" >/dev/null || fail "alice's task failed"
[ "$(TASKCTL_SOCKET=$PUB/ok-run/sock AS_USER "$alice" logs "$id")" = hello-alice ] ||
  fail "alice's log: $(TASKCTL_SOCKET=$PUB/ok-run/sock AS_USER "$alice" logs "$id")"
stop_daemon

[ ${#PROBLEMS[@]} = 0 ] || fail "${#PROBLEMS[@]} attacks not refused: $(printf '%s; ' "${PROBLEMS[@]}")"
pass
