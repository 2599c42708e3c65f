#!/bin/bash
# update (issue 16), direct runner: `update --timeout +3s` keeps a task alive
# past its old timeout (the daemon re-arms its own timer); a raised timeout
# and a task's own EXTEND_TIMEOUT_USEC= survive a daemon restart; an owner
# raising past the queue's max_timeout gets 65 and nothing changes, root may;
# a submit past a maximum is refused but for root; the direct runner refuses
# a live memory limit rather than pretend; `watch --from` replays "updated";
# another user's update of alice's task answers like a missing id (65).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it makes users)"
printf '[queues.capped]\nmax_timeout = "1h"\nmax_memory = "1G"\n' >"$CONFIG"
start_daemon
running() {
  for _ in $(seq 200); do [ "$(T status --json "$1" | json state)" = running ] && return 0; sleep 0.05; done
  fail "task $1 did not start: $(T status "$1")"
}

# 1. +3s on a 2 s timeout: a 3.5 s task succeeds.
t=$(T submit --timeout 2s -- sleep 3.5)
running "$t"
out=$(T update "$t" --timeout +3s) || fail "update: $out"
[ "$out" = "task $t: timeout 5s, kill grace 10s" ] || fail "update said '$out'"
rc=0; timeout 20 "$BIN/taskctl" wait "$t" || rc=$?
[ $rc = 0 ] || fail "an updated task ended $rc: $(T status "$t")"
[ "$(T status --json "$t" | json attempts 0 timeout_usec)" = 5000000 ] || fail "attempt timeout: $(T status --json "$t")"
T status "$t" | grep -q "^ *limits updated: .* by uid 0$" || fail "status: $(T status "$t")"
# Relative to nothing, and a limit the direct runner cannot apply live: refused, 65.
free=$(T submit -- sleep 300)
running "$free"
rc=0; T update "$free" --timeout +1h 2>"$WORK/err" || rc=$?
[ $rc = 65 ] && grep -q "has no timeout to add to" "$WORK/err" || fail "relative without a timeout: $rc $(cat "$WORK/err")"
rc=0; T update "$free" --memory 1G 2>"$WORK/err" || rc=$?
[ $rc = 65 ] && grep -q "direct runner, which cannot change" "$WORK/err" || fail "direct --memory: $rc $(cat "$WORK/err")"
[ "$(T status --json "$free" | json limits_updated_at)" = None ] || fail "a refused update changed the task"
T cancel "$free" >/dev/null

# 2. A raised timeout and a task's own extension survive a restart.
raised=$(T submit --timeout 2s -- sh -c "${RECORD_PID}sleep 4")
extended=$(T submit --timeout 2s -- sh -c "${RECORD_PID}systemd-notify EXTEND_TIMEOUT_USEC=8000000; sleep 4")
running "$raised"
running "$extended"
T update "$raised" --timeout 8s >/dev/null
sleep 0.5  # the extension arrives and is stored
stop_daemon
start_daemon
rc=0; timeout 20 "$BIN/taskctl" wait "$raised" "$extended" || rc=$?
[ $rc = 0 ] || fail "after a restart: $(T status "$raised") $(T status "$extended")"
[ "$(T status --json "$extended" | json attempts 0 timeout_usec)" -ge 8000000 ] || fail "extension: $(T status --json "$extended")"

# 3. The queue's maximums: alice within them, past them only root.
make_user alice
make_user bob
rc=0; AS_USER "$alice" submit --queue capped --timeout 2h -- true 2>"$WORK/err" || rc=$?
[ $rc = 65 ] && grep -q "timeout 2h is above queue capped's max_timeout (1h)" "$WORK/err" || fail "submit past max: $rc $(cat "$WORK/err")"
theirs=$(AS_USER "$alice" submit --queue capped -- sleep 300)
[ "$(T status --json "$theirs" | json limits timeout_usec)" = 3600000000 ] || fail "max_timeout is not the limit in force"
running "$theirs"
rc=0; AS_USER "$alice" update "$theirs" --timeout 2h 2>"$WORK/err" || rc=$?
[ $rc = 65 ] && grep -q "above queue capped's max_timeout" "$WORK/err" || fail "alice past max: $rc $(cat "$WORK/err")"
[ "$(T status --json "$theirs" | json limits timeout_usec)" = 3600000000 ] || fail "a refused update changed the timeout"
AS_USER "$alice" update "$theirs" --timeout 30m >/dev/null || fail "alice cannot lower her own timeout"
out=$(T --json update "$theirs" --timeout +2h) || fail "root cannot go past the maximum"
[ "$(echo "$out" | json limits timeout_usec)" = 9000000000 ] || fail "update --json: $out"
[ "$(T status --json "$theirs" | json limits timeout_usec)" = 9000000000 ] || fail "root's +2h: $(T status --json "$theirs")"
[ "$(T status --json "$theirs" | json limits_updated_by)" = 0 ] || fail "limits_updated_by"
# A task that has not started: its stored limits change (the memory too, the direct runner
# only records it).
held=$(AS_USER "$alice" submit --hold --queue capped -- true)
AS_USER "$alice" update "$held" --memory 512M >/dev/null || fail "update of a held task"
[ "$(T status --json "$held" | json limits memory_max_bytes)" = 536870912 ] || fail "held task's memory"
# Another user cannot tell alice's task from a missing one.
missing=$((theirs + 1000))
rc1=0; rc2=0
AS_USER "$bob" update "$theirs" --timeout 1h >/dev/null 2>"$WORK/e1" || rc1=$?
AS_USER "$bob" update "$missing" --timeout 1h >/dev/null 2>"$WORK/e2" || rc2=$?
[ $rc1 = 65 ] && [ $rc2 = 65 ] || fail "bob: exits $rc1 and $rc2, want 65 and 65"
[ "$(sed "s/$theirs/ID/" "$WORK/e1")" = "$(sed "s/$missing/ID/" "$WORK/e2")" ] ||
  fail "bob: '$(cat "$WORK/e1")' differs from '$(cat "$WORK/e2")'"
[ "$(T status --json "$theirs" | json limits timeout_usec)" = 9000000000 ] || fail "bob changed alice's task"
T cancel "$theirs" "$held" >/dev/null

# 4. `watch --from` replays the updates.
timeout 2 "$BIN/taskctl" --json watch --from 1 "$theirs" >"$WORK/events" || true
python3 - "$WORK/events" <<'PY' || fail "watch --from replay: $(cat "$WORK/events")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
updated = [e for e in ev if e["action"] == "updated"]
assert len(updated) == 2, ev
assert all(e["from"] == "running" and e["to"] == "running" for e in updated), ev
PY
timeout 2 "$BIN/taskctl" watch --from 1 "$t" >"$WORK/text" || true
grep -q "updated$" "$WORK/text" || fail "watch text: $(cat "$WORK/text")"
pass
