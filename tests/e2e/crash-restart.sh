#!/bin/bash
# 1000 submits while the daemon is kill -9ed 5 times (restarted each time):
# every printed id ends succeeded, and every command ran exactly once.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 8\n' >"$CONFIG"
W=$WORK/witness; : >"$W"; IDS=$WORK/ids; : >"$IDS"
start_daemon

# The killer: 5 crashes at random moments while the submits go on.
(
  for k in 1 2 3 4 5; do
    sleep "0.$((RANDOM % 9 + 1))"
    pid=$(cat "$WORK/daemon.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    echo "crash $k" >>"$WORK/crashes"
  done
) &
KILLER=$!

echo "$DAEMON_PID" >"$WORK/daemon.pid"
restarts=0
for i in $(seq 1000); do
  for try in $(seq 200); do
    if id=$(T submit -- sh -c 'sleep 0.0$((RANDOM % 5)); echo $TASKCTL_TASK_ID >>"$0"' "$W" 2>/dev/null); then
      echo "$id" >>"$IDS"; break
    fi
    # Down: bring it back (as systemd would) and submit again.
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      wait "$DAEMON_PID" 2>/dev/null || true
      start_daemon; echo "$DAEMON_PID" >"$WORK/daemon.pid"; restarts=$((restarts + 1))
    fi
  done
done
wait $KILLER
kill -0 "$DAEMON_PID" 2>/dev/null || { wait "$DAEMON_PID" 2>/dev/null || true; start_daemon; restarts=$((restarts + 1)); }
[ $restarts -ge 5 ] || fail "only $restarts restarts happened"
[ "$(wc -l <"$IDS")" = 1000 ] || fail "$(wc -l <"$IDS") ids printed, want 1000"

T wait $(cat "$IDS") || { T list --json | python3 -c "import json,sys; [print(t[\"id\"], t[\"state\"], t[\"reason\"], t[\"message\"]) for t in json.load(sys.stdin) if t[\"state\"] != \"succeeded\"]" >&2; fail "a task did not succeed"; }
T list --json >"$WORK/list.json"
python3 - "$IDS" "$W" "$WORK/list.json" <<'PY'
import collections, json, sys
ids = [int(l) for l in open(sys.argv[1])]
ran = collections.Counter(int(l) for l in open(sys.argv[2]))
listed = {t["id"]: t["state"] for t in json.load(open(sys.argv[3]))}
missing = [i for i in ids if ran[i] == 0]
doubled = [i for i, n in ran.items() if n > 1]
unlisted = [i for i in ids if i not in listed]
bad = [i for i in ids if listed.get(i) != "succeeded"]
print(f"printed {len(ids)}, ran {len(ran)}, missing {len(missing)}, doubled {len(doubled)}, "
      f"unlisted {len(unlisted)}, not succeeded {len(bad)}")
sys.exit(1 if missing or doubled or unlisted or bad else 0)
PY
echo "restarts: $restarts"
pass
