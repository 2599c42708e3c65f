#!/bin/bash
# queue set/pause/resume at run time: lowering the concurrency starts
# nothing new until fewer run; a paused queue starts nothing for 10 s while
# its running tasks finish; resume starts queued work within 1 s; both
# settings survive a restart.
. "$(dirname "$0")/lib.sh"
printf '[queues.q]\nconcurrency = 4\n' >"$CONFIG"
start_daemon
EV=$WORK/events
job() { echo "sh -c 'echo s \$(date +%s.%N) >>$EV; sleep $1; echo e \$(date +%s.%N) >>$EV'"; }
qfield() { T --json queue list | python3 -c 'import json,sys
q = [q for q in json.load(sys.stdin) if q["name"] == "q"][0]; print(q[sys.argv[1]])' "$1"; }
until_running() {  # n
  for _ in $(seq 200); do [ "$(qfield running)" = "$1" ] && return 0; sleep 0.05; done
  fail "queue q never had $1 running (has $(qfield running))"
}

# 1. Concurrency 4 -> 1 while 4 run, 8 queued.
for _ in $(seq 12); do eval "T submit --queue q -- $(job 1)" >>"$WORK/ids"; done
until_running 4
T queue set q --concurrency 1 >/dev/null
set_at=$(date +%s.%N)
T wait $(cat "$WORK/ids")
python3 - "$EV" "$set_at" <<'PY' || fail "more than one ran after the change: $(cat "$EV")"
import sys
events = sorted((float(t), kind) for kind, t in (l.split() for l in open(sys.argv[1])))
set_at = float(sys.argv[2])
running = 0
for t, kind in events:
    if kind == "s":
        if t > set_at and running != 0:
            print(f"a start at {t:.3f} with {running} running", file=sys.stderr); sys.exit(1)
        running += 1
    else:
        running -= 1
PY

# 2. Pause: nothing new starts for 10 s; running ones finish; resume within 1 s.
T queue set q --concurrency 2 >/dev/null
: >"$EV"; : >"$WORK/ids"
for _ in $(seq 2); do eval "T submit --queue q -- $(job 2)" >>"$WORK/ids"; done
until_running 2
T queue pause q >/dev/null
for _ in $(seq 4); do eval "T submit --queue q -- $(job 0)" >>"$WORK/ids"; done
paused_at=$(date +%s.%N)
sleep 10
[ "$(grep -c '^s' "$EV")" = 2 ] || fail "a task started while paused: $(cat "$EV")"
[ "$(grep -c '^e' "$EV")" = 2 ] || fail "the running tasks did not finish while paused"
[ "$(qfield queued)" = 4 ] || fail "queued: $(qfield queued), not 4"

# 3. Both settings survive a restart.
stop_daemon; start_daemon
[ "$(qfield paused)" = True ] || fail "paused did not survive a restart"
[ "$(qfield concurrency)" = 2 ] || fail "concurrency did not survive a restart: $(qfield concurrency)"
[ "$(qfield concurrency_from_config)" = False ] || fail "the set concurrency reads as the config's"
sleep 1
[ "$(grep -c '^s' "$EV")" = 2 ] || fail "a task started after the restart while paused"

resumed_at=$(date +%s.%N)
T queue resume q >/dev/null
T wait $(cat "$WORK/ids")
first=$(grep '^s' "$EV" | sed -n 3p | cut -d' ' -f2)
python3 -c 'import sys; d = float(sys.argv[1]) - float(sys.argv[2]); print(f"first start {d:.3f} s after resume"); sys.exit(0 if d <= 1 else 1)' \
  "$first" "$resumed_at" || fail "queued tasks started late after resume"

# 4. Only root and the admin group change queues; the journal names who did.
AS() { (cd /tmp && runuser -u nobody -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" "$@"); }
for cmd in "pause q" "resume q" "set q --concurrency 9"; do
  rc=0; AS queue $cmd 2>"$WORK/err" || rc=$?
  [ "$rc" = 77 ] || fail "nobody's queue $cmd exited $rc, not 77"
done
AS queue list >/dev/null || fail "nobody cannot list queues"
grep -q "queue resumed; .*q.*0" "$WORK/daemon.log" || fail "the resume is not logged with the caller's uid"

# 5. Back to the config's value.
T queue set q --concurrency default >/dev/null
[ "$(qfield concurrency)" = 4 ] || fail "default did not restore 4"
[ "$(qfield concurrency_from_config)" = True ] || fail "default is not the config's"
pass
