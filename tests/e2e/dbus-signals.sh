#!/bin/bash
# On a private bus (DBUS_SYSTEM_BUS_ADDRESS), taskctld --bus system owns
# io.taskctl1, its properties read, and 20 tasks give every TaskStateChanged,
# in order, with strictly increasing seq (what `gdbus monitor` shows anyone).
. "$(dirname "$0")/lib.sh"
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/bus
dbus-daemon --session --address="$DBUS_SYSTEM_BUS_ADDRESS" --nofork --nopidfile >"$WORK/bus.log" 2>&1 &
BUS_PID=$! MON_PID=; trap 'rc=$?; kill $BUS_PID $MON_PID 2>/dev/null; (exit $rc); cleanup' EXIT
B() { busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" "$@"; }
for _ in $(seq 100); do B status >/dev/null 2>&1 && break; sleep 0.05; done
start_daemon --bus system
B status io.taskctl1 >/dev/null || fail "io.taskctl1 is not owned"
[ "$(B get-property io.taskctl1 /io/taskctl1 io.taskctl1.Manager Version)" = 's "0.1.0"' ] || fail "Version"
timeout 120 gdbus monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest io.taskctl1 >"$WORK/mon" & MON_PID=$!
for _ in $(seq 100); do grep -q 'is owned by' "$WORK/mon" && break; sleep 0.05; done

ids=(); for _ in $(seq 20); do ids+=("$(T submit -- true)"); done
T wait "${ids[@]}"
for _ in $(seq 100); do [ "$(grep -c TaskStateChanged "$WORK/mon")" -ge 80 ] && break; sleep 0.05; done
# Each task: '' -> queued -> starting -> running -> succeeded (exit); seq strictly increasing.
python3 - "$WORK/mon" <<'PY' || fail "signals out of order: $(grep -c TaskStateChanged "$WORK/mon") of 80"
import re, sys
rows = [m.groups() for m in re.finditer(r"TaskStateChanged \(uint64 (\d+), uint32 \d+, '(\w*)', '([\w-]*)', '([\w-]*)', uint32 \d+, '([\w-]*)', uint64 (\d+), uint64 \d+\)", open(sys.argv[1]).read())]
seqs = [int(r[5]) for r in rows]
assert len(rows) == 80 and all(a < b for a, b in zip(seqs, seqs[1:])), seqs
for task in {r[0] for r in rows}:
    steps = [(r[2], r[3], r[4]) for r in rows if r[0] == task]
    assert steps == [('', 'queued', ''), ('queued', 'starting', ''), ('starting', 'running', ''),
                     ('running', 'succeeded', 'exit')], steps
PY
last=$(grep TaskStateChanged "$WORK/mon" | tail -1 | sed 's/.*uint64 \([0-9]*\), uint64 [0-9]*)$/\1/')
[ "$(B get-property io.taskctl1 /io/taskctl1 io.taskctl1.Manager LastSeq)" = "t $last" ] || fail "LastSeq is not $last"
prop() { B get-property io.taskctl1 /io/taskctl1 io.taskctl1.Manager "$1"; }
[ "$(prop Succeeded)" = "t 20" ] || fail "Succeeded is $(prop Succeeded), not 20"
[ "$(prop Failed)" = "t 0" ] && [ "$(prop Running)" = "u 0" ] || fail "Failed/Running: $(prop Failed) $(prop Running)"
pass
