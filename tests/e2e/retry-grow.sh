#!/bin/bash
# Retries that raise limits (issue 16): --timeout-grow under the direct runner.
# A task sleeping 1.5 s with --timeout 1s --retry-on timeout --timeout-grow 2x
# times out once and succeeds on attempt 2, which ran with 2s; status shows
# each attempt's timeout. The growth options are checked as a submit is.
. "$(dirname "$0")/lib.sh"
start_daemon
id=$(T submit --timeout 1s --kill-grace 1s --retries 2 --retry-on timeout --timeout-grow 2x \
  --backoff 100ms -- sleep 1.5)
T wait "$id" || fail "task $id did not succeed: $(T status "$id")"
T status --json "$id" >"$WORK/s.json"
python3 - "$WORK/s.json" <<'PY' || fail "attempts: $(cat "$WORK/s.json")"
import json, sys
t = json.load(open(sys.argv[1]))
a = t["attempts"]
assert [x["number"] for x in a] == [1, 2], a
assert a[0]["reason"] == "timeout" and a[0]["timeout_usec"] == 1000000, a[0]
assert a[1]["state"] == "succeeded" and a[1]["timeout_usec"] == 2000000, a[1]
assert t["retry"]["timeout_grow_factor"] == 2, t["retry"]
PY
T status "$id" >"$WORK/s.txt"
grep -A12 '^attempt 1:' "$WORK/s.txt" | grep -q '^ *limits: *timeout 1s$' ||
  fail "status does not show attempt 1's timeout: $(cat "$WORK/s.txt")"
grep -A12 '^attempt 2:' "$WORK/s.txt" | grep -q '^ *limits: *timeout 2s$' ||
  fail "status does not show attempt 2's timeout: $(cat "$WORK/s.txt")"
grep -q '^retry: .*timeout 2x' "$WORK/s.txt" || fail "status does not show the growth"

# Capped by --timeout-max: 1s, then 1.2s (2x capped), which still times out.
id=$(T submit --timeout 1s --kill-grace 1s --retries 1 --retry-on timeout --timeout-grow 2x \
  --timeout-max 1200ms --backoff 100ms -- sleep 3)
rc=0; T wait "$id" || rc=$?
[ $rc = 124 ] || fail "capped task exited $rc, not 124"
[ "$(T status --json "$id" | json attempts 1 timeout_usec)" = 1200000 ] ||
  fail "attempt 2's timeout is not capped: $(T status --json "$id")"

# Refused: growth without its --retry-on, a maximum below the limit, a bad factor, a maximum
# without growth; and by the daemon, growth with no limit to grow.
refused() {
  local rc=0
  T submit "$@" -- true >/dev/null 2>"$WORK/err" || rc=$?
  [ $rc = 64 ] || [ $rc = 65 ] || fail "submit $* exited $rc: $(cat "$WORK/err")"
}
refused --timeout 1s --retries 1 --retry-on exit:any --timeout-grow 2x
refused --memory 50M --retries 1 --memory-grow 2x
refused --timeout 1h --retries 1 --retry-on timeout --timeout-grow 2x --timeout-max 30m
refused --memory 1G --retries 1 --retry-on oom --memory-grow 2x --memory-max 512M
refused --timeout 1s --retries 1 --retry-on timeout --timeout-grow 1x
refused --timeout 1s --retries 1 --retry-on timeout --timeout-grow abc
refused --timeout 1s --retries 1 --retry-on timeout --timeout-max 2s
rc=0; T submit --retries 1 --retry-on timeout --timeout-grow 2x -- true 2>"$WORK/err" || rc=$?
[ $rc = 65 ] && grep -q 'needs a timeout' "$WORK/err" || fail "growth of no timeout: $rc $(cat "$WORK/err")"
pass
