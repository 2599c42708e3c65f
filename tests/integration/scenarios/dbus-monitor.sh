#!/bin/bash
# Issue 6, acceptance 1, on the real system bus under the scope runner:
# `busctl monitor io.taskctl1` sees, for 100 tasks, every transition in order
# (new -> queued -> starting -> running -> succeeded) with strictly
# increasing seq, and the seqs match what `taskctl watch` reports.
. "$(dirname "$0")/lib.sh"
up
owned() { busctl --system status io.taskctl1 >/dev/null 2>&1; }
until_ok 10 owned || fail "taskctld does not own io.taskctl1"
timeout 300 busctl --system monitor io.taskctl1 --json=short >"$WORK/mon" 2>&1 &
mon=$!
sleep 1
ids=(); for _ in $(seq 100); do ids+=("$(T submit -- true)"); done
T wait "${ids[@]}" || fail "a task did not succeed"
count() { [ "$(grep -c '"member":"TaskStateChanged"' "$WORK/mon")" -ge 400 ]; }
until_ok 20 count || fail "busctl monitor saw $(grep -c TaskStateChanged "$WORK/mon") of 400 signals"
kill "$mon" 2>/dev/null || true
python3 - "$WORK/mon" "${ids[@]}" <<'PY' || fail "signals out of order"
import json, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"): continue
    m = json.loads(line)
    if m.get("member") != "TaskStateChanged": continue
    rows.append(m["payload"]["data"])
ids = {int(x) for x in sys.argv[2:]}
rows = [r for r in rows if int(r[0]) in ids]
seqs = [int(r[7]) for r in rows]
assert len(rows) == 400, len(rows)
assert all(a < b for a, b in zip(seqs, seqs[1:])), "seq not strictly increasing"
for task in ids:
    steps = [(r[3], r[4]) for r in rows if int(r[0]) == task]
    assert steps == [("", "queued"), ("queued", "starting"), ("starting", "running"),
                     ("running", "succeeded")], (task, steps)
print(f"400 signals for 100 tasks in order, seq {seqs[0]}..{seqs[-1]}")
PY
pass
