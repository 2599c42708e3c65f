#!/bin/bash
# Issue 7: `apt remove` stops the daemon but never taskctl.slice, so a running
# task's scope lives on; `apt purge` removes the state and the config. Runs
# last (vm.sh): it takes the package away. Purge also takes the schedules'
# timer and service units away (they would fire a taskctl that is gone).
. "$(dirname "$0")/lib.sh"
up
T schedule add purge-me --on-calendar hourly -- true || fail "schedule add failed"
timer=taskctl-schedule-0-purge-me.timer
[ -f "/etc/systemd/system/$timer" ] || fail "no $timer written: $(ls /etc/systemd/system)"
is_active "$timer" || fail "$timer is not active"
id=$(T submit -- sleep 120)
scope=taskctl-$id-1.scope
running() { is_active "$scope"; }
until_ok 30 running || fail "$scope did not start"
apt-get remove -y -qq taskctl >"$WORK/remove.log" 2>&1 || fail "apt remove: $(tail -n 5 "$WORK/remove.log")"
is_active taskctld.service && fail "taskctld.service still active after apt remove"
is_active taskctl.slice || fail "apt remove stopped taskctl.slice"
running || fail "apt remove killed the running task's scope"
[ -d /var/lib/taskctl ] || fail "apt remove deleted the state"
[ -f /etc/taskctl/taskctld.toml ] || fail "apt remove deleted the conffile"
apt-get purge -y -qq taskctl >"$WORK/purge.log" 2>&1 || fail "apt purge: $(tail -n 5 "$WORK/purge.log")"
[ ! -e /var/lib/taskctl ] || fail "apt purge left /var/lib/taskctl"
[ ! -e /etc/taskctl ] || fail "apt purge left /etc/taskctl"
left=$(find /etc/systemd/system -name 'taskctl-schedule-*' | head -n 3)
[ -z "$left" ] || fail "apt purge left schedule units: $left"
is_active "$timer" && fail "$timer still active after apt purge"
systemctl list-timers --all --no-legend >"$WORK/timers"
grep -F "$timer" "$WORK/timers" >/dev/null && fail "$timer still listed: $(cat "$WORK/timers")"
systemctl stop "$scope" 2>/dev/null || true
pass
