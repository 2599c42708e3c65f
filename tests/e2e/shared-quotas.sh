#!/bin/bash
# A shared server (issue 13, point 5): what one user may hold. Over limits.max_active_tasks_per_user
# (or a queue's own) a submit exits 75 naming the limit, and creates nothing; root is exempt and
# other users have their own. A priority above the queue's max_user_priority exits 77 for a user,
# and is root's to give. A user's finished logs stay under logs.max_bytes_per_user, oldest removed
# first, the task records kept.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it switches users)"
make_user alice
make_user bob
cat >"$CONFIG" <<'TOML'
[limits]
max_active_tasks_per_user = 3
[logs]
max_bytes_per_user = 100000
[queues.hold]
concurrency = 1
max_active_tasks_per_user = 2
[queues.high]
concurrency = 1
max_user_priority = 10
TOML
start_daemon
T queue pause hold >/dev/null

# expect RC WORDS CMD...: CMD exits RC and its stderr holds WORDS.
expect() {
  local want=$1 words=$2 rc=0; shift 2
  "$@" >/dev/null 2>"$WORK/err" || rc=$?
  [ $rc = "$want" ] || fail "$*: exited $rc, want $want ($(cat "$WORK/err"))"
  grep -qF -- "$words" "$WORK/err" || fail "$*: '$(cat "$WORK/err")' does not say '$words'"
}
count() { AS_USER "$1" --json list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# The queue's quota first, then the global one.
AS_USER "$alice" submit --queue hold -- true >/dev/null
AS_USER "$alice" submit --queue hold -- true >/dev/null
expect 75 "queues.hold.max_active_tasks_per_user) is 2" AS_USER "$alice" submit --queue hold -- true
AS_USER "$alice" submit --queue hold --in 1h -- true >/dev/null 2>&1 && fail "a waiting task escaped the queue's quota"
waiting=$(AS_USER "$alice" submit --in 1h -- true)   # her third active task, in another queue
expect 75 "limits.max_active_tasks_per_user) is 3" AS_USER "$alice" submit -- true
[ "$(count "$alice")" = 3 ] || fail "alice holds $(count "$alice") tasks, want 3: a refused submit stored one"
# Bob has his own; root is exempt.
AS_USER "$bob" submit --queue hold -- true >/dev/null
for _ in 1 2 3 4; do T submit --queue hold -- true >/dev/null; done
# A cancel makes room.
AS_USER "$alice" cancel "$waiting" >/dev/null
AS_USER "$alice" submit --in 1h -- true >/dev/null || fail "no room after a cancel"

# Priority: lowering is anyone's; above the queue's max_user_priority (default 0) is root's.
expect 77 "permission denied: priority 1 is above 0" AS_USER "$bob" submit --priority 1 -- true
expect 77 "queues.high.max_user_priority" AS_USER "$bob" submit --queue high --priority 11 -- true
AS_USER "$bob" submit --wait --queue high --priority 10 -- true || fail "bob: priority 10 in high"
AS_USER "$bob" submit --wait --priority -5 -- true || fail "bob: priority -5"
T submit --priority 100 -- true >/dev/null || fail "root: priority 100"

# Logs: bob's tasks each leave 40,000 bytes; past 100,000 his oldest logs go.
ids=()
for n in 1 2 3 4; do
  id=$(AS_USER "$bob" submit -- sh -c "head -c 40000 /dev/zero | tr '\\0' $n")
  AS_USER "$bob" wait "$id" || fail "bob's task $id failed"
  ids+=("$id")
done
for _ in $(seq 100); do [ ! -e "$STATE/logs/${ids[1]}-1.log" ] && break; sleep 0.05; done
total=0
for id in "${ids[@]}"; do
  [ -e "$STATE/logs/$id-1.log" ] && total=$((total + $(stat -c %s "$STATE/logs/$id-1.log")))
done
[ "$total" -le 100000 ] || fail "bob's logs hold $total bytes, over logs.max_bytes_per_user"
[ ! -e "$STATE/logs/${ids[0]}-1.log" ] && [ ! -e "$STATE/logs/${ids[1]}-1.log" ] ||
  fail "bob's oldest logs were kept: $(ls "$STATE/logs")"
[ "$(AS_USER "$bob" logs "${ids[3]}" | head -c 3)" = 444 ] || fail "bob's newest log is gone"
[ "$(AS_USER "$bob" status --json "${ids[0]}" | json state)" = succeeded ] ||
  fail "the task whose log went is gone too"

# A private daemon: its own user is to it what root is to the system one (any priority, no quota).
stop_daemon
mkdir -m 700 "$WORK/private"
chown "$bob" "$WORK/private"
printf '[limits]\nmax_active_tasks_per_user = 1\n' >"$WORK/private/taskctld.toml"
# setpriv execs: $! is the daemon itself.
setpriv --reuid "$bob" --regid "$(id -g "$bob")" --init-groups -- "$BIN/taskctld" \
  --config "$WORK/private/taskctld.toml" --state-dir "$WORK/private/state" \
  --socket "$WORK/private/sock" --runner direct --bus none >>"$WORK/daemon.log" 2>&1 &
private=$!
for _ in $(seq 100); do [ -S "$WORK/private/sock" ] && break; sleep 0.05; done
PRIV() { (cd /tmp && runuser -u "$bob" -- env TASKCTL_SOCKET="$WORK/private/sock" "$BIN/taskctl" "$@"); }
PRIV submit --priority 50 --in 1h -- true >/dev/null || fail "bob's own daemon refused his priority 50"
PRIV submit --in 1h -- true >/dev/null || fail "bob's own daemon held him to a quota"
kill "$private"; wait "$private" 2>/dev/null || true
pass
