#!/bin/bash
# A task reports progress and status through its own NOTIFY_SOCKET (taskctl
# progress, systemd-notify); status shows them; a silent task with
# --heartbeat ends `heartbeat`, 124; another user's datagrams are its own.
. "$(dirname "$0")/lib.sh"
start_daemon
id=$(T submit -- sh -c '"$0" progress 0.5 half; sleep 2' "$BIN/taskctl")
for _ in $(seq 50); do T status "$id" | grep -q "progress: *50%" && break; sleep 0.1; done
T status "$id" | grep -q "progress: *50%" || fail "no live progress: $(T status "$id")"
T status "$id" | grep -q "status text: half" || fail "no status text"
T wait "$id"
[ "$(T status --json "$id" | json attempts 0 status_text)" = half ] || fail "status text not kept"

id=$(T submit --heartbeat 1s -- sh -c 'systemd-notify WATCHDOG=1; sleep 30')
rc=0; timeout 10 "$BIN/taskctl" wait "$id" || rc=$?
[ $rc = 124 ] || fail "silent task: wait exited $rc, want 124"
[ "$(T status --json "$id" | json reason)" = heartbeat ] || fail "reason is not heartbeat"

# A task that keeps beating lives past its heartbeat.
id=$(T submit --heartbeat 1s -- sh -c 'for i in 1 2 3 4; do systemd-notify WATCHDOG=1; sleep 0.5; done')
T wait "$id" || fail "a beating task did not succeed"

# An ordinary user's 100 systemd-notify calls: none lost, the last one shows.
chmod 755 "$WORK"
id=$(cd /tmp && runuser -u nobody -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" submit -- \
     sh -c 'for i in $(seq 100); do systemd-notify --status=n$i || exit 1; done')
T wait "$id" || fail "systemd-notify failed as nobody: $(T logs "$id")"
[ "$(T status --json "$id" | json attempts 0 status_text)" = n100 ] || fail "last status lost"
# Another user's process cannot write to the task's socket.
id=$(T submit -- sh -c 'echo "$NOTIFY_SOCKET" >"$0"; sleep 2' "$WORK/sockpath")
for _ in $(seq 50); do [ -s "$WORK/sockpath" ] && break; sleep 0.1; done
rc=0; runuser -u nobody -- env NOTIFY_SOCKET="$(cat "$WORK/sockpath")" systemd-notify --status=forged 2>/dev/null || rc=$?
T wait "$id"
[ "$(T status --json "$id" | json attempts 0 status_text)" != forged ] || fail "a foreign datagram counted"
pass
