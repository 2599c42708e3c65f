#!/bin/bash
# The installed policy (etc/dbus-1/system.d/io.taskctl1.conf) on a bus with
# the system bus's default policy: root owns io.taskctl1; another user
# cannot own it, gets AccessDenied from the bus for Properties.Set and a
# made-up method, reads the properties and receives the signals.
. "$(dirname "$0")/lib.sh"
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/bus
dbus-daemon --config-file="$(dirname "$0")/dbus-system.conf" --address="$DBUS_SYSTEM_BUS_ADDRESS" \
    --nofork --nopidfile >"$WORK/bus.log" 2>&1 &
BUS_PID=$! MON_PID=; trap 'rc=$?; kill $BUS_PID $MON_PID 2>/dev/null; (exit $rc); cleanup' EXIT
B() { busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" "$@"; }
# As nobody; its output and errors on stdout, and never a failure (the checks grep them).
N() { (cd / && runuser -u nobody -- busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" "$@" 2>&1) || true; }
for _ in $(seq 100); do B status >/dev/null 2>&1 && break; sleep 0.05; done
start_daemon --bus system
B status io.taskctl1 >/dev/null || fail "root could not own io.taskctl1: $(tail -3 "$WORK/daemon.log")"

M=(io.taskctl1 /io/taskctl1 io.taskctl1.Manager)
N call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su io.taskctl1 4 \
  | grep -q 'Access denied' || fail "nobody may own io.taskctl1"
N set-property "${M[@]}" Running u 7 | grep -q 'Access denied' || fail "nobody's Properties.Set was not denied"
N call "${M[@]}" Shutdown | grep -q 'Access denied' || fail "nobody's made-up method was not denied"
[ "$(N get-property "${M[@]}" Version)" = 's "0.1.0"' ] || fail "nobody cannot read a property"
N introspect io.taskctl1 /io/taskctl1 | grep -q TaskStateChanged || fail "nobody cannot introspect"

(cd / && exec runuser -u nobody -- timeout 60 gdbus monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" \
   --dest io.taskctl1) >"$WORK/mon" & MON_PID=$!
for _ in $(seq 100); do grep -q 'is owned by' "$WORK/mon" && break; sleep 0.05; done
id=$(T submit -- true); T wait "$id"
for _ in $(seq 100); do grep -q "uint64 $id, .*'succeeded'" "$WORK/mon" && break; sleep 0.05; done
grep -q "uint64 $id, .*'succeeded'" "$WORK/mon" || fail "nobody did not receive the signals: $(cat "$WORK/mon")"
pass
