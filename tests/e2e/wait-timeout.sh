#!/bin/bash
# wait --timeout DUR (issue 16): gives up after DUR with exit 75 and a line
# saying which task is still running or waiting; a task that ends in time is
# waited for as without it.
. "$(dirname "$0")/lib.sh"
start_daemon
slow=$(T submit -- sleep 300)
held=$(T submit --hold -- true)
quick=$(T submit -- sh -c 'exit 4')
start=$(date +%s%N)
rc=0; T wait --timeout 1s "$slow" "$held" 2>"$WORK/err" || rc=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
[ $rc = 75 ] || fail "wait --timeout exited $rc, want 75"
[ $elapsed -ge 900 ] && [ $elapsed -lt 5000 ] || fail "gave up after ${elapsed}ms, want about 1s"
grep -q "gave up waiting after 1s: task $slow is still running, task $held is still waiting" \
  "$WORK/err" || fail "stderr: $(cat "$WORK/err")"
rc=0; T wait --timeout 30s "$quick" || rc=$?
[ $rc = 4 ] || fail "a task that ended in time: wait exited $rc, want 4"
rc=0; T wait --timeout soon "$quick" 2>/dev/null || rc=$?
[ $rc = 64 ] || fail "a bad --timeout exited $rc, want 64"
T cancel "$slow" "$held"
pass
