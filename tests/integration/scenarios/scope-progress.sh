#!/bin/bash
# Issue 4, acceptance 5, under systemd: X_TASKCTL_PROGRESS and STATUS show in
# status; --heartbeat 2s on a silent task ends heartbeat; an ordinary user's
# 100 systemd-notify calls all arrive; another user's datagram is ignored.
. "$(dirname "$0")/lib.sh"
up
id=$(T submit -- sh -c 'systemd-notify X_TASKCTL_PROGRESS=0.5 STATUS=half; sleep 3')
sees() { T status "$id" | grep -q "progress: *50%" && T status "$id" | grep -q "status text: half"; }
until_ok 10 sees || fail "status shows no progress: $(T status "$id")"
T wait "$id"
id=$(T submit --heartbeat 2s -- sleep 30)
rc=0; timeout 15 taskctl wait "$id" || rc=$?
[ $rc = 124 ] && [ "$(T status --json "$id" | json reason)" = heartbeat ] || fail "silent task: wait $rc"
id=$(cd /tmp && runuser -u nobody -- taskctl submit -- sh -c 'for i in $(seq 100); do systemd-notify --status=n$i || exit 1; done')
T wait "$id" || fail "nobody's systemd-notify failed: $(T logs "$id")"
[ "$(T status --json "$id" | json attempts 0 status_text)" = n100 ] || fail "a status was lost"
id=$(T submit -- sh -c 'echo "$NOTIFY_SOCKET" >"$0"; sleep 2' "$WORK/sock")
until_ok 10 test -s "$WORK/sock" || fail "no NOTIFY_SOCKET"
runuser -u nobody -- env NOTIFY_SOCKET="$(cat "$WORK/sock")" systemd-notify --status=forged 2>/dev/null || true
T wait "$id"
[ "$(T status --json "$id" | json attempts 0 status_text)" != forged ] || fail "a foreign datagram counted"
pass
