#!/bin/bash
# taskctl watch --json sees, for 100 tasks, every transition of every task in
# order (new -> queued -> starting -> running -> succeeded), one JSON object a
# line, with strictly increasing seq.
. "$(dirname "$0")/lib.sh"
start_daemon
# --from 1 on a fresh daemon: no race with the submits below, however slow the start.
"$BIN/taskctl" --json watch --from 1 >"$WORK/watch" 2>"$WORK/watch.err" & watcher=$!
seq 100 | xargs -P 8 -I{} "$BIN/taskctl" submit -- true >"$WORK/ids"
T wait $(cat "$WORK/ids") || fail "a task did not succeed"
for _ in $(seq 100); do [ "$(wc -l <"$WORK/watch")" -ge 400 ] && break; sleep 0.1; done
kill -INT "$watcher"; rc=0; wait "$watcher" || rc=$?
[ "$rc" = 130 ] || fail "watch exited $rc on SIGINT, not 130: $(cat "$WORK/watch.err")"
[ ! -s "$WORK/watch.err" ] || fail "watch wrote to stderr: $(cat "$WORK/watch.err")"
python3 - "$WORK/watch" "$WORK/ids" <<'PY' || fail "the stream is not every transition in order"
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
ids = {int(line) for line in open(sys.argv[2])}
seqs = [e["seq"] for e in events]
assert all(a < b for a, b in zip(seqs, seqs[1:])), "seq not strictly increasing"
want = [(None, "queued"), ("queued", "starting"), ("starting", "running"), ("running", "succeeded")]
seen = {}
for e in events:
    seen.setdefault(e["id"], []).append((e["from"], e["to"]))
assert set(seen) == ids, f"tasks seen {len(seen)}, submitted {len(ids)}"
for id, changes in seen.items():
    assert changes == want, f"task {id}: {changes}"
PY
pass
