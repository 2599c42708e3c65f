#!/bin/bash
# THE SCOPE RUNNER'S ACCEPTANCE TEST (issue 4, acceptance 4, in small). `systemctl restart
# taskctld` while 5 tasks run: each task lives in its own scope in taskctl.slice, outside the
# service's cgroup, so the restart touches none of them. All 5 keep their PIDs, run once, end
# succeeded with their real exit code, and none is lost.
# Under `--runner direct` the tasks live in the service's cgroup and the restart kills them:
# this scenario then fails, and must not be weakened to pass.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 8\n' >/etc/taskctl/taskctld.toml
up
reloads() { journalctl -u taskctld.service -o cat | grep -c 'config reloaded' || true; }
n=$(reloads)
systemctl reload taskctld.service || fail "systemctl reload failed"
reloaded() { [ "$(reloads)" -gt "$n" ]; }
until_ok 10 reloaded || fail "taskctld did not reload its config"

ids=()
for _ in 1 2 3 4 5; do
  id=$(T submit -- sh -c 'echo $$ >"$0/$TASKCTL_TASK_ID.pid"; echo ran >>"$0/$TASKCTL_TASK_ID.runs"; sleep 5' "$WORK") ||
    fail "submit failed"
  ids+=("$id")
done
all_running() { for id in "${ids[@]}"; do [ -s "$WORK/$id.pid" ] || return 1; done; }
until_ok 10 all_running || fail "not all 5 tasks started: $(ls "$WORK")"

placement=""
for id in "${ids[@]}"; do
  pid=$(cat "$WORK/$id.pid")
  grep -q "/taskctl.slice/taskctl-$id-1.scope\$" /proc/"$pid"/cgroup ||
    placement+=" task $id is in $(sed -n 's/^[0-9]*:name=systemd://p; s/^0:://p' /proc/"$pid"/cgroup | head -n 1);"
done
before=$(main_pid)
timeout 60 systemctl restart taskctld.service || fail "systemctl restart failed or took over 60 s"
[ "$(main_pid)" != "$before" ] || fail "the restart kept MainPID $before"
dead=""
for id in "${ids[@]}"; do
  pid=$(cat "$WORK/$id.pid")
  kill -0 "$pid" 2>/dev/null || dead+=" $id (pid $pid; now $(T status --json "$id" | json state), $(T status --json "$id" | json reason))"
done
[ -z "$dead" ] || fail "the restart killed tasks:$dead.${placement:+ Not in their own scope:$placement}"
[ -z "$placement" ] || fail "tasks survived, but not in their own scopes:$placement"

rc=0; T wait "${ids[@]}" || rc=$?
[ $rc = 0 ] || fail "wait exited $rc"
for id in "${ids[@]}"; do
  T status --json "$id" >"$WORK/$id.json"
  got=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))
print(t["state"], t["exit_code"], len(t["attempts"]), ",".join(a["reason"] or "-" for a in t["attempts"]))' "$WORK/$id.json")
  [ "$got" = "succeeded 0 1 exit" ] || fail "task $id: state, exit code, attempts, reasons = $got"
  [ "$(wc -l <"$WORK/$id.runs")" = 1 ] || fail "task $id ran $(wc -l <"$WORK/$id.runs") times"
done
pass
