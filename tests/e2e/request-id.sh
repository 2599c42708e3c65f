#!/bin/bash
# --request-id: 1000 resends of one submission while the daemon is killed
# and restarted 3 times create exactly one task, and every resend that
# printed an id printed that one. Once with a long task, once with `true`.
. "$(dirname "$0")/lib.sh"
start_daemon
resend() {  # request-id command...
  local rid=$1; shift
  ( for _ in $(seq 1000); do
      T submit --request-id "$rid" -- "$@" >>"$WORK/$rid.out" 2>/dev/null || true
    done ) &
  local loop=$!
  for _ in 1 2 3; do
    sleep 0.3; crash_daemon; sleep 0.2; start_daemon
  done
  wait "$loop"
  local ids
  ids=$(sort -u "$WORK/$rid.out")
  [ "$(echo "$ids" | wc -l)" = 1 ] || fail "$rid: resends printed several ids: $(echo $ids)"
  local printed
  printed=$(wc -l <"$WORK/$rid.out")
  [ "$printed" -ge 1 ] || fail "$rid: no resend printed an id"
  local stored
  stored=$(T list --json | python3 -c 'import json,sys
print(sum(1 for t in json.load(sys.stdin) if t.get("request_id") == sys.argv[1]))' "$rid")
  [ "$stored" = 1 ] || fail "$rid: $stored tasks carry the request id"
  echo "$rid: $printed of 1000 resends printed id $ids; 1 task"
  RESULT=$ids
}
resend R1 sleep 600
T cancel "$RESULT" >/dev/null
resend R2 true
T wait "$RESULT" || fail "R2's task did not succeed"
# A resend after the storm still answers with the first id.
other=$(T submit --request-id R2 -- true)
[ "$other" = "$RESULT" ] || fail "the same user's resend after the storm created a new task"
pass
