#!/bin/bash
# Issue 4, acceptance 1: 20 tasks with --memory 20M that allocate 100 MB all
# end failed, reason oom (never a plain signal), and the daemon is unaffected.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 20\n' >/etc/taskctl/taskctld.toml
up; systemctl reload taskctld.service; sleep 0.5
before=$(main_pid)
ids=()
for _ in $(seq 20); do
  ids+=("$(T submit --memory 20M -- python3 -c 'x = bytearray(100 * 1024 * 1024); print(len(x))')")
done
for id in "${ids[@]}"; do
  rc=0; T wait "$id" || rc=$?
  reason=$(T status --json "$id" | json reason)
  [ "$reason" = oom ] || fail "task $id: reason $reason (wait $rc), want oom"
  [ $rc = 137 ] || fail "task $id: wait exited $rc, want 137"
done
[ "$(main_pid)" = "$before" ] || fail "the daemon restarted"
id=$(T submit -- true); T wait "$id" || fail "the daemon no longer runs tasks"
pass
