#!/bin/bash
# Issue 4, acceptance 7: kill the shims of 5 running attempts and at once the
# daemon (systemd restarts it): a list --json issued right after shows the 5
# as lost, never running; nothing of them is left; no queued task's recorded
# start precedes the restarted daemon's READY. A SIGSTOPped daemon is killed
# by the watchdog and runs again within WatchdogSec + 10 s; tasks survive it.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 5\n' >/etc/taskctl/taskctld.toml
up; systemctl reload taskctld.service; sleep 0.5
ids=()
for i in 1 2 3 4 5; do
  ids+=("$(T submit -- sh -c 'setsid sleep 1000 & echo $$ >"$0/$TASKCTL_TASK_ID.pid"; sleep 1000' "$WORK")")
done
queued=()
for i in 1 2 3; do queued+=("$(T submit -- true)"); done
started() { for id in "${ids[@]}"; do [ -s "$WORK/$id.pid" ] || return 1; done; }
until_ok 20 started || fail "not all 5 started"
shims=()
for id in "${ids[@]}"; do shims+=("$(T status --json "$id" | json attempts 0 shim_pid)"); done
kill -KILL "${shims[@]}" "$(main_pid)"
T list --json >"$WORK/list.json"
python3 - "$WORK/list.json" "${ids[@]}" <<'PY' || fail "after the crash: $(cat "$WORK/list.json")"
import json, sys
tasks = {t["id"]: t for t in json.load(open(sys.argv[1]))}
for i in map(int, sys.argv[2:]):
    assert tasks[i]["state"] == "failed" and tasks[i]["reason"] == "lost", tasks[i]
PY
# Not `grep -q`: systemd-cgls would die of SIGPIPE, and pipefail would read that as "gone".
gone() { ! systemd-cgls --no-pager /taskctl.slice 2>/dev/null | grep "sleep 1000" >/dev/null; }
until_ok 10 gone || fail "left in taskctl.slice: $(systemd-cgls --no-pager /taskctl.slice)"
ready=$(journalctl -u taskctld.service -o short-unix --no-pager | grep "taskctld ready" | tail -n 1 | cut -d' ' -f1)
T wait "${queued[@]}" || fail "queued tasks failed"
for id in "${queued[@]}"; do
  start=$(T status --json "$id" | python3 -c 'import json,sys,datetime; a=json.load(sys.stdin)["attempts"][-1]; print(datetime.datetime.fromisoformat(a["started_at"].replace("Z","+00:00")).timestamp())')
  python3 -c "import sys; sys.exit(0 if $start >= $ready - 0.05 else 1)" || fail "task $id started at $start, before READY at $ready"
done

# The watchdog: a stopped daemon is killed and restarted; tasks survive.
id=$(T submit -- sh -c 'echo $$ >"$0/wd.pid"; sleep 60' "$WORK")
until_ok 10 test -s "$WORK/wd.pid" || fail "watchdog task never ran"
before=$(main_pid)
kill -STOP "$before"
wd=$(systemctl show -p WatchdogUSec --value taskctld.service)
restarted() { [ "$(main_pid)" != "$before" ] && [ "$(main_pid)" != 0 ] && is_active taskctld.service; }
until_ok 45 restarted || fail "not restarted within WatchdogSec ($wd) + 10 s"
kill -0 "$(cat "$WORK/wd.pid")" || fail "the task died with the daemon"
T cancel "$id"
pass
