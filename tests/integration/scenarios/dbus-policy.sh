#!/bin/bash
# Issue 6, acceptance 3, on the real system bus with the installed policy
# (/usr/share/dbus-1/system.d/io.taskctl1.conf): a non-root user cannot own
# io.taskctl1; its Properties.Set and a made-up method get AccessDenied from
# the bus; its property reads succeed; it receives the signals through a
# plain match rule (gdbus monitor --system --dest io.taskctl1).
. "$(dirname "$0")/lib.sh"
up
owned() { busctl --system status io.taskctl1 >/dev/null 2>&1; }
until_ok 10 owned || fail "taskctld does not own io.taskctl1"
# As nobody; its output and errors on stdout, and never a failure (the checks grep them).
N() { (cd / && runuser -u nobody -- busctl --system "$@" 2>&1) || true; }
M=(io.taskctl1 /io/taskctl1 io.taskctl1.Manager)
N call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su io.taskctl1 4 \
  | grep -q 'Access denied' || fail "nobody may own io.taskctl1"
N set-property "${M[@]}" Running u 7 | grep -q 'Access denied' || fail "nobody's Properties.Set was not denied"
N call "${M[@]}" Shutdown | grep -q 'Access denied' || fail "nobody's made-up method was not denied"
N get-property "${M[@]}" Version | grep -q '^s "' || fail "nobody cannot read a property: $(N get-property "${M[@]}" Version)"

(cd / && exec runuser -u nobody -- timeout 60 gdbus monitor --system --dest io.taskctl1) >"$WORK/mon" 2>&1 &
mon=$!
seen() { grep -q 'is owned by' "$WORK/mon"; }
until_ok 10 seen || fail "gdbus monitor did not start: $(cat "$WORK/mon")"
id=$(T submit -- true); T wait "$id"
got() { grep -q "uint64 $id, .*'succeeded'" "$WORK/mon"; }
until_ok 10 got || fail "nobody did not receive the signals: $(cat "$WORK/mon")"
kill "$mon" 2>/dev/null || true
pass
