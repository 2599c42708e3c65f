#!/bin/bash
# io.taskctl1 as clients taskctl did not write see it, on a private bus (docs/dbus.md):
# - the XML `cmake --install` puts in share/dbus-1/interfaces/io.taskctl1.Manager.xml is what the
#   running daemon exports, member for member (gdbus introspect);
# - TaskStateChanged carries the change's time (µs since the epoch: the `at` of watch --json) and
#   its seq; TaskProgress its time and the seq of the state change sent before it (gdbus monitor);
# - the counts, named as systemd's (NRunning, NSubmittedSinceStart, ...: u), and 0.1.0's names
#   still answering (gdbus call GetAll);
# - python3-dbus-next, an asyncio client, subscribes to both signals and reads the properties.
. "$(dirname "$0")/lib.sh"
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/bus
A=$DBUS_SYSTEM_BUS_ADDRESS
dbus-daemon --session --address="$A" --nofork --nopidfile >"$WORK/bus.log" 2>&1 &
BUS_PID=$! MON_PID= NEXT_PID= WATCH_PID=
trap 'rc=$?; kill $BUS_PID $MON_PID $NEXT_PID $WATCH_PID 2>/dev/null; (exit $rc); cleanup' EXIT
for _ in $(seq 100); do busctl --address="$A" status >/dev/null 2>&1 && break; sleep 0.05; done
start_daemon --bus system
owner() { gdbus call --address "$A" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.GetNameOwner io.taskctl1 2>/dev/null; }
for _ in $(seq 100); do owner >/dev/null && break; sleep 0.05; done
owner >/dev/null || fail "io.taskctl1 is not owned"

# 1. The shipped XML is the truth: same signals (arguments, names, types, order), properties
#    (type, access) and annotations as the live object's io.taskctl1.Manager.
cmake --install "$BIN/.." --prefix "$WORK/inst" >"$WORK/install.log" 2>&1 ||
  fail "cmake --install: $(tail -3 "$WORK/install.log")"
shipped=$WORK/inst/share/dbus-1/interfaces/io.taskctl1.Manager.xml
[ -f "$shipped" ] || fail "no share/dbus-1/interfaces/io.taskctl1.Manager.xml installed"
gdbus introspect --address "$A" --dest io.taskctl1 --object-path /io/taskctl1 --xml >"$WORK/live.xml"
python3 - "$shipped" "$WORK/live.xml" <<'PY' || fail "the shipped XML is not what the daemon exports"
import sys, xml.etree.ElementTree as ET
def members(path):
    iface = [i for i in ET.parse(path).getroot().iter("interface") if i.get("name") == "io.taskctl1.Manager"]
    assert len(iface) == 1, (path, "no io.taskctl1.Manager")
    out = set()
    for m in iface[0]:
        args = tuple((a.get("name"), a.get("type"), a.get("direction", "out" if m.tag == "signal" else "in"))
                     for a in m.findall("arg"))
        notes = tuple(sorted((n.get("name"), n.get("value")) for n in m.findall("annotation")))
        out.add((m.tag, m.get("name"), m.get("type"), m.get("access"), args, notes))
    return out
shipped, live = members(sys.argv[1]), members(sys.argv[2])
for m in sorted(shipped - live, key=str): print("only in the shipped XML:", m)
for m in sorted(live - shipped, key=str): print("only in the live object:", m)
assert shipped == live
assert any(m[0] == "signal" for m in live) and any(m[0] == "property" for m in live)
PY

# 2. python3-dbus-next (Debian's, in /usr/lib/python3: /usr/bin/python3, whatever else is first
#    on PATH) subscribes from the live introspection, as its docs show, and reads every count.
/usr/bin/python3 - "$A" >"$WORK/next.out" 2>"$WORK/next.err" <<'PY' &
import asyncio, json, sys
from dbus_next.aio import MessageBus

async def main():
    bus = await MessageBus(bus_address=sys.argv[1]).connect()
    node = await bus.introspect("io.taskctl1", "/io/taskctl1")
    manager = bus.get_proxy_object("io.taskctl1", "/io/taskctl1", node).get_interface("io.taskctl1.Manager")
    ends = asyncio.get_running_loop().create_future()
    seen = []
    def changed(id, uid, queue, old, new, attempt, reason, seq, timestamp):
        print(json.dumps({"signal": "state", "id": id, "new": new, "reason": reason, "seq": seq,
                          "timestamp": timestamp}), flush=True)
        if new in ("succeeded", "failed", "cancelled"):
            seen.append(id)
            if len(seen) == 2 and not ends.done():
                ends.set_result(None)
    def progress(id, uid, attempt, fraction, timestamp, seq):
        print(json.dumps({"signal": "progress", "id": id, "fraction": fraction, "seq": seq,
                          "timestamp": timestamp}), flush=True)
    manager.on_task_state_changed(changed)
    manager.on_task_progress(progress)
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.wait_for(ends, 60)
    props = {}
    for name in ("NWaiting", "NQueued", "NRunning", "NRetrying", "NSubmittedSinceStart",
                 "NSucceededSinceStart", "NFailedSinceStart", "NCancelledSinceStart", "LastSeq",
                 "Version"):
        props[name] = await getattr(manager, "get_" + manager._to_snake_case(name))()
    print(json.dumps({"properties": props}), flush=True)

asyncio.run(main())
PY
NEXT_PID=$!
for _ in $(seq 200); do grep -q ready "$WORK/next.out" && break; sleep 0.05; done
grep -q ready "$WORK/next.out" || fail "dbus-next did not subscribe: $(cat "$WORK/next.err")"
timeout 120 gdbus monitor --address "$A" --dest io.taskctl1 >"$WORK/mon" & MON_PID=$!
for _ in $(seq 100); do grep -q 'is owned by' "$WORK/mon" && break; sleep 0.05; done

ok=$(T submit -- sh -c '"$0" progress 0.5 half; sleep 0.5' "$BIN/taskctl")
bad=$(T submit -- false)
T wait "$ok" >/dev/null
T wait "$bad" >/dev/null && fail "false succeeded"
wait $NEXT_PID || fail "dbus-next client: $(cat "$WORK/next.err")"
NEXT_PID=
for _ in $(seq 100); do [ "$(grep -c TaskStateChanged "$WORK/mon")" -ge 8 ] && break; sleep 0.05; done
# watch --from follows on after the replay: read the 8 changes, then stop it.
"$BIN/taskctl" watch --from 1 --json >"$WORK/watch" & WATCH_PID=$!
for _ in $(seq 100); do [ "$(grep -c '"state"' "$WORK/watch")" -ge 8 ] && break; sleep 0.05; done
kill $WATCH_PID; wait $WATCH_PID 2>/dev/null || true

# 3. What gdbus monitor and dbus-next saw, against watch --json.
python3 - "$WORK/mon" "$WORK/watch" "$WORK/next.out" "$ok" "$bad" <<'PY' || fail "the signals' time and seq"
import datetime, json, re, sys
mon, watch, nxt, ok, bad = open(sys.argv[1]).read(), open(sys.argv[2]), open(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def usec(iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return (t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1)
want = {(e["id"], e["seq"]): usec(e["at"]) for e in map(json.loads, watch) if e["event"] == "state"}
assert len(want) == 8, want
states, order, progress = {}, [], []
for m in re.finditer(r"(TaskStateChanged|TaskProgress) \((.*)\)$", mon, re.M):
    args = [a.strip() for a in m.group(2).split(",")]
    num = lambda a: int(a.split()[-1])
    if m.group(1) == "TaskStateChanged":
        assert len(args) == 9, args
        states[(num(args[0]), num(args[7]))] = num(args[8])
        order.append(num(args[7]))
    else:
        assert len(args) == 6, args
        assert num(args[0]) == ok and float(args[3].split()[-1]) == 0.5, args
        # The seq of the state change sent just before it; its time within the task's run.
        assert order and num(args[5]) == order[-1], (args, order)
        progress.append(num(args[4]))
assert states == want, ("gdbus monitor", states, want)
times = sorted(at for (i, s), at in want.items() if i == ok)  # queued, starting, running, end
assert len(progress) == 1 and times[2] <= progress[0] <= times[3], (progress, times)
lines = [json.loads(l) for l in nxt]
got = {(l["id"], l["seq"]): l["timestamp"] for l in lines if l.get("signal") == "state"}
assert got == want, ("dbus-next", got, want)
assert [l for l in lines if l.get("signal") == "progress" and l["fraction"] == 0.5], lines
props = [l["properties"] for l in lines if "properties" in l][0]
assert props["NSubmittedSinceStart"] == 2 and props["NSucceededSinceStart"] == 1, props
assert props["NFailedSinceStart"] == 1 and props["NCancelledSinceStart"] == 0, props
assert props["NRunning"] == 0 and props["NQueued"] == 0 and props["NWaiting"] == 0, props
assert props["LastSeq"] == max(s for _, s in want), props
PY

# 4. gdbus reads them too, with their D-Bus types; 0.1.0's names still answer.
all=$(gdbus call --address "$A" --dest io.taskctl1 --object-path /io/taskctl1 \
  --method org.freedesktop.DBus.Properties.GetAll io.taskctl1.Manager)
for want in "'NSubmittedSinceStart': <uint32 2>" "'NSucceededSinceStart': <uint32 1>" \
  "'NFailedSinceStart': <uint32 1>" "'NRunning': <uint32 0>" "'Succeeded': <uint64 1>" \
  "'Failed': <uint64 1>" "'Running': <uint32 0>"; do
  [[ $all == *"$want"* ]] || fail "GetAll has no $want: $all"
done
pass
