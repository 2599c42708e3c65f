#!/bin/bash
# dbus-daemon dies and a new one starts at the same address (as `systemctl
# restart dbus`): taskctld owns io.taskctl1 again within 10 s and its signals
# flow again, while RPC keeps answering and a running task is unaffected.
. "$(dirname "$0")/lib.sh"
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/bus
start_bus() {
  rm -f "$WORK/bus"
  dbus-daemon --session --address="$DBUS_SYSTEM_BUS_ADDRESS" --nofork --nopidfile >>"$WORK/bus.log" 2>&1 &
  BUS_PID=$!
  for _ in $(seq 100); do B status >/dev/null 2>&1 && return; sleep 0.05; done; fail "no dbus-daemon"
}
B() { busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" "$@"; }
BUS_PID= MON_PID=; trap 'rc=$?; kill $BUS_PID $MON_PID 2>/dev/null; (exit $rc); cleanup' EXIT
start_bus
start_daemon --bus system
long=$(T submit -- sh -c 'sleep 4; echo survived')

kill -KILL "$BUS_PID"; wait "$BUS_PID" 2>/dev/null || true
T list >/dev/null || fail "RPC stopped answering without the bus"
quick=$(T submit -- true); T wait "$quick" || fail "a task submitted without the bus did not run"
start_bus
for _ in $(seq 100); do B status io.taskctl1 >/dev/null 2>&1 && break; sleep 0.1; done
B status io.taskctl1 >/dev/null 2>&1 || fail "io.taskctl1 not owned again within 10 s"

timeout 60 gdbus monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" --dest io.taskctl1 >"$WORK/mon" & MON_PID=$!
for _ in $(seq 100); do grep -q 'is owned by' "$WORK/mon" && break; sleep 0.05; done
id=$(T submit -- true); T wait "$id"
for _ in $(seq 100); do grep -q "uint64 $id, .*'succeeded'" "$WORK/mon" && break; sleep 0.05; done
grep -q "uint64 $id, .*'succeeded'" "$WORK/mon" || fail "no signals after the restart: $(cat "$WORK/mon")"
T wait "$long" || fail "the running task did not survive the bus restart"
[ "$(T logs "$long")" = survived ] || fail "the running task's output: $(T logs "$long")"
pass
