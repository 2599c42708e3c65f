#!/bin/bash
# --key: skip answers with the holder, queue waits behind it, replace cancels it.
. "$(dirname "$0")/lib.sh"
start_daemon
h=$(T submit --key nightly -- sleep 30)
s=$(T submit --key nightly --on-conflict skip -- sleep 30)
[ "$s" = "$h" ] || fail "skip printed $s, not the holder $h"
q=$(T submit --key nightly --on-conflict queue -- true)
sleep 0.5
[ "$(T status --json "$q" | json state)" = waiting ] || fail "queue: not waiting behind the holder"
r=$(T submit --key nightly --on-conflict replace -- sh -c 'echo replaced-it')
rc=0; T wait "$h" || rc=$?
[ "$rc" = 130 ] || fail "the replaced holder's wait exited $rc"
T status --json "$h" | json message | grep -q "replaced by task $r" || fail "holder message"
T wait "$r" || fail "the replacing task did not succeed"
# Free again once nothing holds it.
n=$(T submit --key nightly --on-conflict skip -- true)
[ "$n" != "$h" ] && [ "$n" != "$r" ] || fail "skip after the key was free returned an old id"
T wait "$n"
pass
