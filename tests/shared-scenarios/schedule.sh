#!/bin/bash
# Issue 7, acceptance 5, run by both suites (the container and the Debian 12 VM): an ordinary
# user's schedule fires as that user every 10 s, shows in list-timers and `schedule list` with
# the ids it submitted, cannot be removed by another user, and leaves no unit file once
# removed. An invalid spec is refused with systemd's verdict and nothing is written; arguments
# survive ExecStart's parsing.
. "$(dirname "$0")/lib.sh"
up
id -u taskctl-it-other >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin taskctl-it-other
AS() { local who=$1; shift; (cd /tmp && runuser -u "$who" -- taskctl "$@"); }
units() { ls /etc/systemd/system | grep '^taskctl-schedule-' || true; }
uid=$(id -u nobody)
out=$(AS nobody schedule add bad --on-calendar 'not a spec' -- true 2>&1) && fail "bad spec accepted"
rc=$(AS nobody schedule add bad --on-calendar 'not a spec' -- true >/dev/null 2>&1; echo $?)
[ "$rc" = 65 ] || fail "bad spec exited $rc, not 65"
echo "$out" | grep -q 'Failed to parse calendar specification' || fail "not systemd's verdict: $out"
[ -z "$(units)" ] || fail "a refused spec left $(units)"
AS nobody schedule add tick --on-calendar '*:*:0/10' --accuracy 1s -- id -u || fail "add failed"
out=$(AS nobody schedule add tick --on-calendar daily -- true 2>&1) && fail "a second tick was added"
echo "$out" | grep -q 'exists; remove it first' || fail "a second tick: $out"
AS nobody schedule add quoting --on-calendar '*:*:0/10' --accuracy 1s -- \
  printf '%s|' 'two words' 'say "hi"' '100%' '$HOME' 'back\slash' || fail "add quoting failed"
# Not `grep -q`: it stops reading, systemctl dies of SIGPIPE, and pipefail fails the check.
timers=$(systemctl list-timers --all --no-pager)
grep "taskctl-schedule-$uid-tick.timer" <<<"$timers" >/dev/null ||
  fail "list-timers lacks it: $(systemctl list-timers --all --no-pager)"
sleep 30
ids=$(AS nobody --json schedule list | python3 -c 'import json,sys
print(" ".join(str(i) for s in json.load(sys.stdin) if s["name"]=="tick" for i in s["task_ids"]))')
[ "$(echo $ids | wc -w)" -ge 2 ] || fail "tick submitted '$ids' in 30 s"
for id in $ids; do
  T wait "$id" >/dev/null || fail "task $id failed"
  [ "$(T logs "$id")" = "$uid" ] || fail "task $id ran as $(T logs "$id"), not $uid"
done
q=$(AS nobody --json schedule list | python3 -c 'import json,sys
print([s for s in json.load(sys.stdin) if s["name"]=="quoting"][0]["task_ids"][0])')
T wait "$q" >/dev/null
[ "$(T logs "$q")" = 'two words|say "hi"|100%|$HOME|back\slash|' ] || fail "argv mangled: $(T logs "$q")"
AS nobody schedule list >"$WORK/list" || fail "schedule list failed"
grep '^tick' "$WORK/list" >/dev/null || fail "schedule list lacks tick: $(cat "$WORK/list")"
AS taskctl-it-other schedule remove tick 2>/dev/null && fail "another user removed it"
rc=0; AS taskctl-it-other schedule remove tick --user nobody 2>/dev/null || rc=$?
[ "$rc" = 77 ] || fail "another user naming nobody's schedule: exit $rc, not 77"
[ -n "$(units)" ] || fail "another user's remove deleted the units"
AS nobody schedule remove tick || fail "remove failed"
# Root says whose (--user), as an admin must when several users have one of that name.
T schedule remove quoting --user nobody || fail "root's remove quoting --user nobody failed"
[ -z "$(units)" ] || fail "left behind: $(units)"
timers=$(systemctl list-timers --all --no-pager)
grep taskctl-schedule- <<<"$timers" >/dev/null && fail "timer still listed"
pass
