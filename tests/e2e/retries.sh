#!/bin/bash
# --retries 3 --retry-on exit:1: exactly 4 attempts, each with its own log.
. "$(dirname "$0")/lib.sh"
start_daemon
id=$(T submit --retries 3 --retry-on exit:1 --backoff 100ms -- false)
rc=0; T wait "$id" || rc=$?
[ "$rc" = 1 ] || fail "wait exited $rc, not 1"
T status --json "$id" >"$WORK/s.json"
[ "$(json state <"$WORK/s.json")" = failed ] || fail "state: $(json state <"$WORK/s.json")"
python3 - "$WORK/s.json" <<'PY' || fail "attempts: $(cat "$WORK/s.json")"
import json, sys
t = json.load(open(sys.argv[1]))
a = t["attempts"]
assert len(a) == 4, len(a)
assert [x["number"] for x in a] == [1, 2, 3, 4]
assert all(x["reason"] == "exit" and x["exit_code"] == 1 for x in a), a
PY

# Each attempt has its own log.
id=$(T submit --retries 2 --backoff 100ms -- sh -c 'echo "attempt $TASKCTL_ATTEMPT"; exit 7')
rc=0; T wait "$id" || rc=$?
[ "$rc" = 7 ] || fail "wait exited $rc, not 7"
for n in 1 2 3; do
  [ "$(T logs --attempt "$n" "$id")" = "attempt $n" ] || fail "log of attempt $n: $(T logs --attempt "$n" "$id")"
done

# A code not named is not retried.
id=$(T submit --retries 3 --retry-on exit:2 --backoff 100ms -- false)
rc=0; T wait "$id" || rc=$?
[ "$rc" = 1 ] || fail "wait exited $rc"
[ "$(T status --json "$id" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["attempts"]))')" = 1 ] ||
  fail "exit 1 was retried though only exit:2 was named"
pass
