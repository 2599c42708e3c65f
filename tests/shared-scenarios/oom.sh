#!/bin/bash
# Issue 4, acceptance 1, and issue 7, acceptance 3 (cgroup v2), run by both suites (the container
# and the Debian 12 VM): 20 tasks with --memory 20M that allocate 100 MB, all at once, all end
# failed, reason oom (from the scope's memory.events, never a plain signal), wait 137, and the
# daemon is unaffected.
. "$(dirname "$0")/lib.sh"
up
concurrency 20
before=$(main_pid)
ids=()
for _ in $(seq 20); do
  ids+=("$(T submit --memory 20M -- python3 -c 'x = bytearray(100 * 1024 * 1024); print(len(x))')")
done
for id in "${ids[@]}"; do
  rc=0; T wait "$id" || rc=$?
  T status --json "$id" >"$WORK/s.json"
  state=$(json state <"$WORK/s.json"); reason=$(json reason <"$WORK/s.json")
  [ "$state" = failed ] && [ "$reason" = oom ] ||
    fail "task $id: $state, reason $reason (wait $rc), want failed, oom"
  [ $rc = 137 ] || fail "task $id: wait exited $rc, want 137"
done
[ "$(main_pid)" = "$before" ] || fail "the daemon restarted"
T submit --wait -- true >/dev/null || fail "the daemon no longer runs tasks"
concurrency default
pass
