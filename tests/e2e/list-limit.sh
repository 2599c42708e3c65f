#!/bin/bash
# `list --limit N`: the newest N tasks that match the other filters, listed in id order; the
# limit counts matches only (a label filter first), and only the caller's tasks.
. "$(dirname "$0")/lib.sh"
start_daemon
ids=()
for i in $(seq 10); do
  if [ $((i % 2)) = 0 ]; then
    ids+=("$(T submit --label kind=even -- true)")
  else
    ids+=("$(T submit -- true)")
  fi
done
T wait "${ids[@]}" || fail "a task failed"
listed() { T list --json "$@" | python3 -c 'import json,sys; print(" ".join(str(t["id"]) for t in json.load(sys.stdin)))'; }
[ "$(listed --limit 3)" = "${ids[7]} ${ids[8]} ${ids[9]}" ] || fail "--limit 3 listed: $(listed --limit 3)"
[ "$(listed --label kind=even --limit 2)" = "${ids[7]} ${ids[9]}" ] ||
  fail "--label kind=even --limit 2 listed: $(listed --label kind=even --limit 2)"
[ "$(listed --limit 50 | wc -w)" = 10 ] || fail "--limit 50 listed $(listed --limit 50 | wc -w) of 10"
[ "$(listed | wc -w)" = 10 ] || fail "list without --limit: $(listed | wc -w) of 10"
# The table too, and a bad limit changes nothing and says why.
[ "$(T list --limit 1 | grep -c succeeded)" = 1 ] || fail "table with --limit 1: $(T list --limit 1)"
rc=0; err=$(T list --limit 0 2>&1) || rc=$?
[ "$rc" = 64 ] || fail "--limit 0 exited $rc, not 64"
grep 'limit needs a number' <<<"$err" >/dev/null || fail "--limit 0 said: $err"
pass
