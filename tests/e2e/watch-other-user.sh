#!/bin/bash
# A user's watch shows only that user's tasks (identity from the socket), and
# watching a task of someone else's reads exactly like an unknown id; root's
# watch shows everyone's.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it switches to nobody)"
start_daemon
AS() { (cd /tmp && runuser -u nobody -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" "$@"); }
# exec all the way down, so that $! is taskctl itself (runuser would stay between).
(cd /tmp && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
  env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$BIN/taskctl" --json watch --from 1) >"$WORK/nobody" &
mine=$!
"$BIN/taskctl" --json watch --from 1 >"$WORK/root" & all=$!
root_id=$(T submit -- true); own=$(AS submit -- true)
T wait "$root_id"; AS wait "$own"
for _ in $(seq 100); do [ "$(wc -l <"$WORK/root")" -ge 8 ] && break; sleep 0.1; done
sleep 0.3; kill -INT "$mine" "$all"; wait "$mine" "$all" || true
ids() { python3 -c 'import json,sys; print(sorted({json.loads(l)["id"] for l in open(sys.argv[1])}))' "$1"; }
[ "$(ids "$WORK/nobody")" = "[$own]" ] || fail "nobody saw tasks $(ids "$WORK/nobody"), want [$own]"
[ "$(ids "$WORK/root")" = "[$root_id, $own]" ] || fail "root saw $(ids "$WORK/root")"
rc1=0; rc2=0
AS watch "$root_id" 2>"$WORK/e1" || rc1=$?
AS watch $((own + 1000)) 2>"$WORK/e2" || rc2=$?
[ $rc1 = 65 ] && [ $rc2 = 65 ] || fail "watch of a foreign and a missing id exit $rc1 and $rc2, want 65"
[ "$(sed "s/$root_id/ID/" "$WORK/e1")" = "$(sed "s/$((own + 1000))/ID/" "$WORK/e2")" ] ||
  fail "'$(cat "$WORK/e1")' differs from '$(cat "$WORK/e2")'"
pass
