#!/bin/bash
# Issue 16, retries that raise limits, under the scope runner (the memory limit is the scope's
# MemoryMax, which only a cgroup enforces): a task allocating 70 MB with --memory 50M
# --retry-on oom --memory-grow 2x --memory-max 256M is killed for memory on attempt 1 and
# succeeds on attempt 2, whose scope had 100M; status shows each attempt's limit.
. "$(dirname "$0")/lib.sh"
up
id=$(T submit --memory 50M --retries 2 --retry-on oom --memory-grow 2x --memory-max 256M \
  --backoff 100ms -- python3 -c 'x = bytearray(70 * 1024 * 1024); print(len(x))')
rc=0; T wait "$id" || rc=$?
T status --json "$id" >"$WORK/s.json"
[ $rc = 0 ] || fail "task $id: wait exited $rc: $(cat "$WORK/s.json")"
python3 - "$WORK/s.json" <<'PY' || fail "attempts: $(cat "$WORK/s.json")"
import json, sys
t = json.load(open(sys.argv[1]))
a = t["attempts"]
assert [x["number"] for x in a] == [1, 2], a
assert a[0]["reason"] == "oom" and a[0]["memory_max_bytes"] == 50 << 20, a[0]
assert a[1]["state"] == "succeeded" and a[1]["memory_max_bytes"] == 100 << 20, a[1]
assert t["limits"]["memory_max_bytes"] == 100 << 20, t["limits"]
PY
T status "$id" >"$WORK/s.txt"
grep -A12 '^attempt 2:' "$WORK/s.txt" | grep -q '^ *limits: *memory 100M$' ||
  fail "status does not show attempt 2's 100M: $(cat "$WORK/s.txt")"
grep -A12 '^attempt 1:' "$WORK/s.txt" | grep -q '^ *limits: *memory 50M$' ||
  fail "status does not show attempt 1's 50M: $(cat "$WORK/s.txt")"
pass
