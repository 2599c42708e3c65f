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
. "$(dirname "$0")/common.sh"  # tests/shared-scenarios/common.sh, copied in by vm.sh

SLICE=/sys/fs/cgroup/taskctl.slice
SUITE=vm  # which suite runs the scenario (a shared one may size itself to it)

# The package installed (by `install`), the socket and the service up. Type=notify: active once
# the daemon has sent READY=1.
up() {
  dpkg-query -W -f='${Status}' taskctl 2>/dev/null | grep -q 'install ok installed' ||
    fail "the package is not installed (see the install scenario)"
  systemctl start --no-block taskctld.socket taskctld.service || fail "systemctl start taskctld failed"
  until_ok 60 is_active taskctld.service ||
    fail "taskctld.service is $(systemctl is-active taskctld.service) 60 s after its start: no READY=1"
}

# scope_cgroup ID: the cgroup directory of task ID's first attempt.
scope_cgroup() { echo "$SLICE/taskctl-$1-1.scope"; }
