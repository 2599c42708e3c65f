# Shared by the VM scenarios. Each one runs INSIDE the booted Debian 12 VM, as root, from
# /var/lib/taskctl-vm (the package taskctl_*.deb beside scenarios/), against taskctl as the
# package installs it: taskctld run by systemd from taskctld.socket, tasks in scopes of
# taskctl.slice on cgroup v2.
#
#   . "$(dirname "$0")/lib.sh"
#   up; T submit -- true; ...; pass
#
# `install` runs first and installs the package; the others need it. fail prints the reason
# with the unit's status and journal; guest.sh prints PASS/FAIL.
set -euo pipefail

NAME=$(basename "$0" .sh)
SOCK=/run/taskctl/taskctl.sock
SLICE=/sys/fs/cgroup/taskctl.slice
WORK=$(mktemp -d /var/tmp/taskctl-vm-scenario.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

# What an operator would look at, printed with every failure.
diagnose() {
  echo "--- systemctl status taskctld.service taskctld.socket"
  systemctl status --no-pager --lines=0 taskctld.service taskctld.socket 2>&1 || true
  echo "--- journal of taskctld (last 25 lines)"
  journalctl -u taskctld.service -u taskctld.socket --no-pager -n 25 2>&1 || true
}
fail() { echo "FAIL: $NAME: $*"; diagnose; exit 1; }
pass() { exit 0; }        # guest.sh prints the PASS line
T() { taskctl "$@"; }

# prop UNIT PROPERTY: one systemd property's value.
prop() { systemctl show --value -p "$2" "$1"; }
main_pid() { prop taskctld.service MainPID; }
is_active() { [ "$(systemctl is-active "$1")" = active ]; }

# until_ok SECONDS CMD...: retry CMD every 0.1 s until it succeeds; false after SECONDS.
until_ok() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}

# The package installed (by `install`), the socket and the service up. Type=notify: active once
# the daemon has sent READY=1.
up() {
  dpkg-query -W -f='${Status}' taskctl 2>/dev/null | grep -q 'install ok installed' ||
    fail "the package is not installed (see the install scenario)"
  systemctl start --no-block taskctld.socket taskctld.service || fail "systemctl start taskctld failed"
  until_ok 60 is_active taskctld.service ||
    fail "taskctld.service is $(systemctl is-active taskctld.service) 60 s after its start: no READY=1"
}

# concurrency N: run up to N tasks of the default queue at once (persisted in the store, not in
# the package's conffile).
concurrency() { T queue set default --concurrency "$1" >/dev/null || fail "queue set --concurrency $1 failed"; }

# json FIELD...: read one JSON document on stdin, print a field (python3).
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$@"; }

# scope_cgroup ID: the cgroup directory of task ID's first attempt.
scope_cgroup() { echo "$SLICE/taskctl-$1-1.scope"; }
