#!/bin/bash
# Issue 13, point 7: a running task's scope, which every local user can list
# and read (systemctl, the journal), is described by the task id, the attempt,
# the queue and the owner's uid only: never by the command line, which may
# carry a secret.
. "$(dirname "$0")/lib.sh"
up
# A real unprivileged owner, made for this scenario (the container's root is an overlay).
owner=taskctl-it-desc
userdel "$owner" 2>/dev/null || true
useradd --no-create-home --shell /bin/sh "$owner" || fail "useradd $owner failed"
trap '[ -z "${id:-}" ] || T cancel "$id" >/dev/null 2>&1 || true; userdel "$owner" 2>/dev/null || true; rm -rf "$WORK"' EXIT
uid=$(id -u "$owner")
as_owner() { (cd /tmp && runuser -u "$owner" -- taskctl "$@"); }

secret=hunter2-$RANDOM$RANDOM
id=$(as_owner submit -- sh -c "sleep 60 # password=$secret") || fail "submit as $owner failed"
unit=taskctl-$id-1.scope
until_ok 30 is_active "$unit" || fail "$unit is $(systemctl is-active "$unit") 30 s after the submit"
# Read as the owner: what any user sees.
seen=$(runuser -u "$owner" -- systemctl show --value -p Description "$unit")
want="taskctl task $id attempt 1 (queue default, uid $uid)"
[ "$seen" = "$want" ] || fail "Description= of $unit is \"$seen\", want \"$want\""
# PID 1 logs the description when it starts the scope.
journalctl --sync 2>/dev/null || true
until_ok 10 sh -c "journalctl --no-pager -u '$unit' | grep -qF 'taskctl task $id attempt 1'" ||
  fail "the journal has no start of $unit: $(journalctl --no-pager -u "$unit")"
if journalctl --no-pager -u "$unit" | grep -qF "$secret"; then
  fail "the journal of $unit shows the command line: $(journalctl --no-pager -u "$unit" | grep -F "$secret")"
fi
T cancel "$id" >/dev/null || fail "cancel $id failed"
rc=0; T wait "$id" || rc=$?
[ $rc = 130 ] || fail "the cancelled task's wait exited $rc, want 130"
pass
