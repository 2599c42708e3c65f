#!/bin/bash
# Issue 7, acceptance 3 (cgroup v2): a --timeout 2s --kill-grace 1s task that ignores SIGTERM
# and its setsid grandchild are both gone within grace + 1 s of the timeout (4 s after the
# attempt started); the task ends failed, reason timeout, wait 124, and its scope is gone.
. "$(dirname "$0")/lib.sh"
up
stubborn='trap "" TERM; setsid sh -c "trap \"\" TERM; echo \$\$ >$0/grandchild; sleep 1000" & echo $$ >"$0/child"; sleep 1000'
id=$(T submit --timeout 2s --kill-grace 1s -- sh -c "$stubborn" "$WORK")
until_ok 30 test -s "$WORK/grandchild" -a -s "$WORK/child" || fail "the task never started its grandchild"
pids="$(cat "$WORK/child") $(cat "$WORK/grandchild")"
# Gone: no such process, or a zombie waiting for its reaper (read in bash: no fork per poll).
gone() {
  local p st
  for p in $pids; do
    st=Z; read -r _ _ st _ 2>/dev/null <"/proc/$p/stat" || st=Z
    [ "$st" = Z ] || return 1
  done
}
until_ok 30 gone || fail "processes $pids still run 30 s after the task started"
gone_at=$(date +%s.%N)
rc=0; T wait "$id" || rc=$?
[ $rc = 124 ] || fail "task $id: wait exited $rc, want 124"
T status --json "$id" >"$WORK/s.json"
[ "$(json reason <"$WORK/s.json")" = timeout ] || fail "reason $(json reason <"$WORK/s.json"), want timeout"
started_at=$(date -d "$(json attempts 0 started_at <"$WORK/s.json")" +%s.%N)
took=$(awk -v a="$gone_at" -v b="$started_at" 'BEGIN { printf "%.2f", a - b }')
echo "task and grandchild gone ${took}s after the start (timeout 2 s + grace 1 s + 1 s = 4 s)"
awk -v t="$took" 'BEGIN { exit !(t <= 4.0) }' || fail "gone only ${took}s after the start, want <= 4 s"
until_ok 10 test ! -d "$(scope_cgroup "$id")" || fail "the scope's cgroup $(scope_cgroup "$id") is still there"
pass
