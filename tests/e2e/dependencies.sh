#!/bin/bash
# --after: an ok-dependent of a failed task is cancelled with "dependency
# failed"; a failed-dependent of it runs; a chain runs in order.
. "$(dirname "$0")/lib.sh"
start_daemon
a=$(T submit -- false)
ok=$(T submit --after "$a:ok" -- true)
failed=$(T submit --after "$a:failed" -- true)
rc=0; T wait "$ok" || rc=$?
[ "$rc" = 125 ] || fail "wait on the ok-dependent exited $rc, not 125"
T status --json "$ok" >"$WORK/ok.json"
[ "$(json state <"$WORK/ok.json")" = cancelled ] || fail "ok-dependent: $(cat "$WORK/ok.json")"
[ "$(json reason <"$WORK/ok.json")" = dependency ] || fail "ok-dependent reason: $(cat "$WORK/ok.json")"
json message <"$WORK/ok.json" | grep -q "^dependency failed: $a failed" ||
  fail "ok-dependent message: $(json message <"$WORK/ok.json")"
T wait "$failed" || fail "the failed-dependent did not succeed"

# A chain, each after the previous: runs in order, one at a time.
prev=$(T submit -- sh -c "echo 1 >>'$WORK/order'")
for i in $(seq 2 20); do
  prev=$(T submit --after "$prev" -- sh -c "echo $i >>'$WORK/order'")
done
T wait "$prev" || fail "the chain's last task did not succeed"
[ "$(tr '\n' ' ' <"$WORK/order")" = "$(seq -s ' ' 1 20) " ] || fail "order: $(cat "$WORK/order")"

# Unknown ids are refused at submit.
rc=0; T submit --after 999999 -- true 2>"$WORK/err" || rc=$?
[ "$rc" = 65 ] || fail "--after an unknown id exited $rc"
grep -q "no such task: 999999" "$WORK/err" || fail "error: $(cat "$WORK/err")"
pass
