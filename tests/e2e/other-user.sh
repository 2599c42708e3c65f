#!/bin/bash
# Another user (nobody, from /tmp) cannot tell root's task from a missing one,
# runs its own tasks as itself, reads its own log, and cannot forge a result.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it switches to nobody)"
start_daemon
AS() { (cd /tmp && runuser -u nobody -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" "$@"); }
root_id=$(T submit -- sleep 30)
missing=$((root_id + 1000))
for cmd in status wait cancel logs; do
  rc1=0; rc2=0
  AS $cmd "$root_id" >/dev/null 2>"$WORK/e1" || rc1=$?
  AS $cmd "$missing" >/dev/null 2>"$WORK/e2" || rc2=$?
  [ $rc1 = 65 ] && [ $rc2 = 65 ] || fail "$cmd: exits $rc1 and $rc2, want 65 and 65"
  [ "$(sed "s/$root_id/ID/" "$WORK/e1")" = "$(sed "s/$missing/ID/" "$WORK/e2")" ] ||
    fail "$cmd: '$(cat "$WORK/e1")' differs from '$(cat "$WORK/e2")'"
done
AS list --json | python3 -c 'import json,sys; sys.exit(1 if json.load(sys.stdin) else 0)' ||
  fail "nobody's list shows root's task"
T cancel "$root_id"

# Its own task runs as nobody, with nobody's groups, in /tmp.
id=$(AS submit -- sh -c 'id; pwd')
AS wait "$id" || fail "nobody's task failed"
out=$(AS logs "$id")
echo "$out" | grep -q "^uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)$" ||
  fail "task identity: $out"
echo "$out" | grep -qx /tmp || fail "task cwd: $out"
[ "$(T status --json "$id" | json uid)" = 65534 ] || fail "owner is not nobody"

# The result file lives where nobody cannot write: the state dir is root's 0700.
[ "$(stat -c %a "$STATE")" = 700 ] || fail "state dir mode $(stat -c %a "$STATE")"
id=$(AS submit -- sh -c "echo forged > '$STATE/runs/'*/result; ls '$STATE/runs'")
rc=0; AS wait "$id" || rc=$?
[ $rc != 0 ] || fail "nobody could write into the state dir"
AS logs "$id" | grep -q "Permission denied" || fail "no permission error: $(AS logs "$id")"
# A cwd nobody cannot enter ends the task as spawn, 126.
mkdir -m 700 "$WORK/private"
id=$(cd "$WORK/private" && runuser -u nobody -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" submit -- pwd)
rc=0; AS wait "$id" || rc=$?
[ $rc = 126 ] || fail "cwd $WORK/private: wait exited $rc, want 126"
AS logs "$id" | grep -q "cannot enter" || fail "no cwd message: $(AS logs "$id")"
pass
