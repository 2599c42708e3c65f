#!/bin/bash
# A queue with concurrency 2 never runs 3 commands at once (50 tasks, each
# recording its start and end), and does run 2 at once.
. "$(dirname "$0")/lib.sh"
printf '[queues.pair]\nconcurrency = 2\n' >"$CONFIG"
start_daemon
R=$WORK/spans; : >"$R"
ids=()
for i in $(seq 50); do
  ids+=("$(T submit --queue pair -- sh -c 'echo "start $(date +%s%N)" >>"$0"; sleep 0.05; echo "end $(date +%s%N)" >>"$0"' "$R")")
done
T wait "${ids[@]}" || fail "a task failed"
python3 - "$R" <<'PY'
import sys
events = sorted((int(t), 1 if k == "start" else -1) for k, t in (l.split() for l in open(sys.argv[1])))
# At equal times an end sorts before a start: -1 < 1.
running = peak = 0
for _, d in events:
    running += d
    peak = max(peak, running)
print("events", len(events), "peak", peak)
sys.exit(0 if len(events) == 100 and peak == 2 else 1)
PY
pass
