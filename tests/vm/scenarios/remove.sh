#!/bin/bash
# Issue 7: `apt remove` stops the daemon but never taskctl.slice, so a running
# task's scope lives on; `apt purge` removes the state and the config. Runs
# last (vm.sh): it takes the package away.
. "$(dirname "$0")/lib.sh"
up
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
systemctl stop "$scope" 2>/dev/null || true
pass
