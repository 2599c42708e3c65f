#!/bin/bash
# Issue 4, acceptance 4 (the restart itself, 20 tasks that keep running: the shared
# restart-survival scenario): 20 tasks that finish while the daemon is stopped are
# recorded with their exit codes on start, not re-run. kill -9 of the shim of
# 10 running attempts: all 10 end lost within 10 s, nothing left in their scopes.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 40\n' >/etc/taskctl/taskctld.toml
up; systemctl reload taskctld.service; sleep 0.5
# submit_started N EXT SCRIPT: N tasks running `sh -c SCRIPT $WORK`, each of
# which writes $WORK/<id>.EXT once it runs; their ids in `ids`, once all have.
submit_started() {
  local n=$1 ext=$2 script=$3 i
  ids=()
  for i in $(seq "$n"); do ids+=("$(T submit -- sh -c "$script" "$WORK")"); done
  written() { local id; for id in "${ids[@]}"; do [ -s "$WORK/$id.$ext" ] || return 1; done; }
  until_ok 20 written || fail "not all $n started"
}

# 20 that finish while the daemon is stopped.
submit_started 20 runs 'echo x >>"$0/$TASKCTL_TASK_ID.runs"; sleep 2; exit 3'
systemctl stop taskctld.service taskctld.socket
sleep 4
up
for id in "${ids[@]}"; do
  rc=0; T wait "$id" || rc=$?
  [ $rc = 3 ] || fail "task $id finished while stopped: wait $rc, want 3"
  [ "$(wc -l <"$WORK/$id.runs")" = 1 ] || fail "task $id re-ran"
done

# kill -9 of 10 shims: lost within 10 s, their scopes emptied.
submit_started 10 pid 'setsid sleep 1000 & echo $$ >"$0/$TASKCTL_TASK_ID.pid"; sleep 1000'
for id in "${ids[@]}"; do
  kill -KILL "$(T status --json "$id" | json attempts 0 shim_pid)"
done
t0=$SECONDS
for id in "${ids[@]}"; do
  rc=0; timeout 10 taskctl wait "$id" || rc=$?
  [ "$(T status --json "$id" | json reason)" = lost ] || fail "task $id: not lost (wait $rc)"
done
[ $((SECONDS - t0)) -le 10 ] || fail "lost took $((SECONDS - t0)) s"
gone() { ! systemd-cgls --no-pager /taskctl.slice 2>/dev/null | grep -q "sleep 1000"; }
until_ok 10 gone || fail "left in taskctl.slice: $(systemd-cgls --no-pager /taskctl.slice)"
pass
