#!/bin/bash
# Issue 7 (issue 4, acceptance 4, on cgroup v2): `systemctl restart taskctld` while tasks run:
# they keep running, with the same PIDs, and end with their real exit codes, none lost. (Each
# task runs 20 s, and on until the restart is over, however slow the machine.)
. "$(dirname "$0")/lib.sh"
up
concurrency 10
ids=()
for _ in $(seq 5); do
  ids+=("$(T submit -- sh -c 'echo $$ >"$0/$TASKCTL_TASK_ID.pid"; sleep 20
                              until [ -e "$0/restarted" ]; do sleep 0.2; done
                              exit $(($TASKCTL_TASK_ID % 7 + 1))' "$WORK")")
done
started() { for id in "${ids[@]}"; do [ -s "$WORK/$id.pid" ] || return 1; done; }
until_ok 60 started || fail "not all 5 started"
before=$(main_pid)
timeout 120 systemctl restart taskctld.service || fail "restart failed"
[ "$(main_pid)" != "$before" ] || fail "taskctld did not restart (MainPID $before)"
for id in "${ids[@]}"; do kill -0 "$(cat "$WORK/$id.pid")" || fail "task $id died in the restart"; done
touch "$WORK/restarted"
for id in "${ids[@]}"; do
  rc=0; T wait "$id" || rc=$?
  [ $rc = $((id % 7 + 1)) ] || fail "task $id: wait $rc, want $((id % 7 + 1)) ($(T status --json "$id" | json reason))"
  [ "$(T status --json "$id" | json reason)" = exit ] || fail "task $id: not ended by its exit"
done
concurrency default
pass
