#!/bin/bash
# Issue 4, acceptance 4, and issue 7 (on the VM's cgroup v2), run by both suites (the container and
# the Debian 12 VM): `systemctl restart taskctld` while 20 tasks run: the daemon restarts (a new
# MainPID), every task keeps running with the same PID, runs once, and ends with its real exit
# code (reason exit), 0 lost. Each task runs 20 s, and on until the restart is over, however slow
# the machine. (What happens to tasks that end while the daemon is stopped, and to an attempt
# whose shim is killed: the container's scope-stopped-and-lost.)
. "$(dirname "$0")/lib.sh"
up
concurrency 20
ids=()
for _ in $(seq 20); do
  ids+=("$(T submit -- sh -c 'echo $$ >"$0/$TASKCTL_TASK_ID.pid"; echo x >>"$0/$TASKCTL_TASK_ID.runs"
                              sleep 20
                              until [ -e "$0/restarted" ]; do sleep 0.2; done
                              exit $(($TASKCTL_TASK_ID % 7))' "$WORK")")
done
started() { for id in "${ids[@]}"; do [ -s "$WORK/$id.pid" ] || return 1; done; }
until_ok 60 started || fail "not all 20 started"
before=$(main_pid)
timeout 120 systemctl restart taskctld.service || fail "restart failed"
[ "$(main_pid)" != "$before" ] || fail "taskctld did not restart (MainPID $before)"
for id in "${ids[@]}"; do kill -0 "$(cat "$WORK/$id.pid")" || fail "task $id died in the restart"; done
touch "$WORK/restarted"
for id in "${ids[@]}"; do
  rc=0; T wait "$id" || rc=$?
  [ $rc = $((id % 7)) ] ||
    fail "task $id: wait $rc, want $((id % 7)) ($(T status --json "$id" | json reason))"
  [ "$(T status --json "$id" | json reason)" = exit ] || fail "task $id: not ended by its exit"
  [ "$(wc -l <"$WORK/$id.runs")" = 1 ] || fail "task $id ran $(wc -l <"$WORK/$id.runs") times"
done
concurrency default
pass
