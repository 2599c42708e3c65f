#!/bin/bash
# why (issue 16): one line for each thing that keeps a task from running, the
# same line in `status` (why:) and in `list --json` ("why"), and a plain
# answer for a running or ended task.
. "$(dirname "$0")/lib.sh"
printf '[queues.one]\nconcurrency = 2\n[queues.p]\nconcurrency = 1\n' >"$CONFIG"
start_daemon
expect() {  # expect ID LINE-PATTERN (a grep -x extended regex)
  local got; got=$(T why "$1")
  echo "$got" | grep -Eqx "$2" || fail "why $1: '$got', want /$2/"
}
a=$(T submit --queue one -- sleep 300)
b=$(T submit --queue one -- sleep 300)
for _ in $(seq 100); do
  [ "$(T status --json "$b" | json state)" = running ] && break; sleep 0.05
done
queued=$(T submit --queue one -- true)
expect "$queued" "task $queued: queue one's 2 slots taken by tasks $a, $b"
# Another user's task behind them: fair share (on by default) decides who gets the next slot,
# and the line says so with what its owner runs there.
make_user bob
theirs=$(AS_USER "$bob" submit --queue one -- true)
expect "$theirs" "task $theirs: queue one's 2 slots taken by tasks $a, $b; fair share: a free slot goes to the user running fewest here \(its owner runs 0\)"
[ "$(AS_USER "$bob" why "$theirs")" = "task $theirs: queue one's 2 slots taken by tasks $a, $b; fair share: a free slot goes to the user running fewest here (its owner runs 0)" ] ||
  fail "bob's own why: $(AS_USER "$bob" why "$theirs")"
after=$(T submit --after "$a" -- true)
expect "$after" "task $after: waiting for task $a \(running\) to succeed"
later=$(T submit --in 1h -- true)
expect "$later" "task $later: not before [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} .*"
key1=$(T submit --queue one --key k -- true)
key2=$(T submit --key k -- true)
expect "$key2" "task $key2: waiting for key \"k\" held by task $key1 \(queued\)"
retry=$(T submit --retries 2 --backoff 1h,2h -- false)
for _ in $(seq 100); do
  [ "$(T status --json "$retry" | json state)" = retrying ] && break; sleep 0.05
done
expect "$retry" "task $retry: backoff until [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} .*, then attempt 2"
T queue pause p >/dev/null
paused=$(T submit --queue p -- true)
expect "$paused" "task $paused: queue p is paused \(taskctl queue resume p\)"
expect "$a" "task $a is running \(attempt 1\)"
done_=$(T submit -- sh -c 'exit 3')
T wait "$done_" || true
expect "$done_" "task $done_ has ended: failed \(exit\), exit status 3"
# The same line in status and list --json.
T status "$after" | grep -Eq "^ *why: +waiting for task $a \(running\) to succeed$" ||
  fail "status: $(T status "$after")"
[ "$(T --json list | python3 -c "import json,sys; print([t['why'] for t in json.load(sys.stdin) if t['id']==$queued][0])")" \
  = "queue one's 2 slots taken by tasks $a, $b" ] || fail "list --json why"
[ "$(T --json status "$a" | json why)" = None ] || fail "a running task has a why in JSON"
T cancel "$a" "$b" "$retry" "$later" "$paused" "$theirs"
pass
