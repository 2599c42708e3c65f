#!/bin/bash
# logs -f prints lines as they come and returns when the task ends.
. "$(dirname "$0")/lib.sh"
start_daemon
id=$(T submit -- sh -c 'for i in 1 2 3; do echo "line $i $(date +%s%N)"; sleep 0.5; done')
T logs -f "$id" | while read -r _ n stamp; do echo "$n $stamp $(date +%s%N)"; done >"$WORK/seen"
[ "$(wc -l <"$WORK/seen")" = 3 ] || fail "followed $(wc -l <"$WORK/seen") lines, want 3"
# Each line arrived while the task ran: well before the task's end (1.5 s).
python3 - "$WORK/seen" <<'PY'
import sys
for line in open(sys.argv[1]):
    n, printed, seen = line.split()
    lag = (int(seen) - int(printed)) / 1e9
    if lag > 0.4:
        sys.exit(f"line {n} arrived {lag:.2f}s after it was printed")
PY
[ "$(T status --json "$id" | json state)" = succeeded ] || fail "not finished when logs -f returned"
# Following a task that has not started yet waits for its first output.
printf '[queues.one]\nconcurrency = 1\n' >"$CONFIG"; stop_daemon; start_daemon
blocker=$(T submit --queue one -- sleep 1)
id=$(T submit --queue one -- echo later)
[ "$(timeout 10 "$BIN/taskctl" logs -f "$id")" = later ] || fail "follow of a queued task"
pass
