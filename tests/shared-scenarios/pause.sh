#!/bin/bash
# Issue 16, pause/resume under the scope runner, run by both suites: on the container's cgroup v1
# (hybrid) the SIGSTOP path (every process of the scope's cgroup but the shim is stopped), on the
# VM's cgroup v2 systemd's freezer (FreezeUnit: the scope's FreezerState is "frozen"). Either way
# a paused CPU burner and its child use no CPU for 3 s, stay paused over `systemctl restart
# taskctld`, run again after `resume`, and a paused task can be cancelled (thawed, then TERM)
# well within its kill grace.
. "$(dirname "$0")/lib.sh"
up
V2=; [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && V2=1

ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
first_child() { cut -d' ' -f1 "/proc/$1/task/$1/children" 2>/dev/null; }
state() { T status --json "$id" | json state; }

id=$(T submit -- sh -c 'sh -c "while :; do :; done" & while :; do :; done')
unit=taskctl-$id-1.scope
running() { [ "$(state)" = running ]; }
until_ok 10 running || fail "never ran: $(state)"
shim=$(T status --json "$id" | json attempts -1 shim_pid)
found() { cmd=$(first_child "$shim") && [ -n "$cmd" ] && child=$(first_child "$cmd") && [ -n "$child" ]; }
until_ok 10 found || fail "the burner and its child did not start"

# frozen_ok: the scope is paused the way this hierarchy pauses it.
frozen_ok() {
  if [ -n "$V2" ]; then
    [ "$(prop "$unit" FreezerState)" = frozen ]
  else
    grep -q '^State:.*stopped' "/proc/$cmd/status" && grep -q '^State:.*stopped' "/proc/$child/status"
  fi
}
# idle_for SECONDS: neither the command nor its child used CPU meanwhile (one tick of slack).
idle_for() {
  local a1 b1 a2 b2
  a1=$(ticks "$cmd"); b1=$(ticks "$child")
  sleep "$1"
  a2=$(ticks "$cmd"); b2=$(ticks "$child")
  [ $((a2 - a1)) -le 1 ] || fail "a paused command used $((a2 - a1)) ticks in $1 s"
  [ $((b2 - b1)) -le 1 ] || fail "a paused command's child used $((b2 - b1)) ticks in $1 s"
}

T pause "$id" || fail "pause failed"
[ "$(state)" = paused ] || fail "not paused: $(state)"
until_ok 5 frozen_ok || fail "not frozen (v2=${V2:-0}): FreezerState $(prop "$unit" FreezerState)," \
  "$(grep State "/proc/$cmd/status")"
sleep 0.2
idle_for 3

# Paused stays paused over a restart: re-adoption never thaws.
before=$(main_pid)
timeout 120 systemctl restart taskctld.service || fail "restart failed"
[ "$(main_pid)" != "$before" ] || fail "taskctld did not restart"
[ "$(state)" = paused ] || fail "paused lost over a restart: $(state)"
frozen_ok || fail "thawed by the restart"
idle_for 1

T resume "$id" || fail "resume failed"
[ "$(state)" = running ] || fail "not running after resume: $(state)"
[ -z "$V2" ] || [ "$(prop "$unit" FreezerState)" = running ] ||
  fail "FreezerState after resume: $(prop "$unit" FreezerState)"
a1=$(ticks "$cmd"); b1=$(ticks "$child"); sleep 1; a2=$(ticks "$cmd"); b2=$(ticks "$child")
[ $((a2 - a1)) -gt 10 ] && [ $((b2 - b1)) -gt 10 ] ||
  fail "not running again after resume ($((a2 - a1)) and $((b2 - b1)) ticks)"

# Cancel of a paused task: thawed first, then the TERM lands (default grace 10 s).
T pause "$id" || fail "second pause failed"
start=$SECONDS
T cancel "$id" >/dev/null
rc=0; timeout 8 taskctl wait "$id" || rc=$?
[ $rc = 130 ] || fail "cancel of a paused task: wait exited $rc, want 130"
[ $((SECONDS - start)) -lt 8 ] || fail "cancel of a paused task took $((SECONDS - start)) s"
gone() { ! kill -0 "$child" 2>/dev/null; }
until_ok 5 gone || fail "the cancelled task's child still runs"
pass
