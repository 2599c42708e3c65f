#!/bin/bash
# A shared server: one user cannot starve the others (issue 13, point 5). Alice floods a one-slot
# queue with 10,000 tasks; Bob's first task starts at the next free slot, and from then on the
# two take turns. Measured from the event sequence: among the starts in that queue after it is
# resumed, Bob's three tasks are the 1st or 2nd, the 3rd or 4th, the 5th or 6th.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it switches users)"
make_user alice
make_user bob
FLOOD=10000
printf '[queues.flood]\nconcurrency = 1\n' >"$CONFIG"
start_daemon
T queue pause flood >/dev/null

# Alice's flood: one connection, 100 submits in flight; the paused queue keeps them queued.
(cd /tmp && runuser -u "$alice" -- "$BIN/bench-submit-throughput" --socket "$TASKCTL_SOCKET" \
  --queue flood --paused --count $FLOOD --warmup 0 --timeout 60) >"$WORK/flood" 2>&1 ||
  fail "alice's flood: $(cat "$WORK/flood")"
bobs=()
for _ in 1 2 3; do bobs+=("$(AS_USER "$bob" submit --queue flood -- true)"); done
seq=$(T --json status "${bobs[2]}" | json last_seq)
# Every state change from here on, as root sees them (everyone's).
T --json watch --from $((seq + 1)) >"$WORK/events" 2>"$WORK/watch.err" &
watch_pid=$!
resumed=$(date +%s%N)
T queue resume flood >/dev/null
for id in "${bobs[@]}"; do
  rc=0; timeout 20 runuser -u "$bob" -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" wait "$id" || rc=$?
  [ $rc = 0 ] || fail "bob's task $id did not end within 20 s of the resume (wait exited $rc)" \
    "behind alice's $FLOOD: fair share does not hold"
done
ms=$(( ($(date +%s%N) - resumed) / 1000000 ))
T queue pause flood >/dev/null  # the rest of alice's flood stays queued
sleep 0.3                        # the watch catches up
kill "$watch_pid"; wait "$watch_pid" 2>/dev/null || true

# The order of starts in the queue.
python3 - "$WORK/events" "$(id -u "$bob")" "${bobs[@]}" <<'PY' || fail "start order"
import json, sys
path, bob, ids = sys.argv[1], int(sys.argv[2]), [int(i) for i in sys.argv[3:]]
starts = []
for line in open(path):
    e = json.loads(line)
    if e.get("event") == "state" and e["queue"] == "flood" and e["to"] == "starting":
        starts.append((e["id"], e["uid"]))
where = {task: n for n, (task, uid) in enumerate(starts)}
missing = [i for i in ids if i not in where]
if missing:
    sys.exit(f"bob's tasks {missing} never started; starts seen: {len(starts)}")
for k, task in enumerate(ids):
    # k-th of Bob's: within the first 2(k+1) starts, i.e. one free slot after the one before.
    if where[task] > 2 * k + 1:
        sys.exit(f"bob's task {task} was start #{where[task] + 1}, want at most #{2 * k + 2} "
                 f"(starts: {starts[:8]})")
print(f"bob's starts among the queue's: {[where[t] + 1 for t in ids]} of {len(starts)}")
PY
echo "bob's three tasks ended ${ms} ms after the resume, behind alice's $FLOOD"
pass
