# Shared by the integration scenarios. Each one runs INSIDE the booted container, as root,
# against taskctld installed as the package would install it and run by systemd:
#
#   . "$(dirname "$0")/lib.sh"
#   up; T submit -- true; ...; pass
#
# fail prints the reason with the unit's status and journal; container.sh prints PASS/FAIL.
# container.sh runs it as `nsenter -t PID1 -a --wdns=/var/lib/taskctl-it bash scenarios/X.sh`;
# TASKCTL_IT_RUNNER says which runner the unit runs (scope, or direct through a drop-in).
. "$(dirname "$0")/common.sh"  # tests/shared-scenarios/common.sh, copied in by container.sh

RUNNER=${TASKCTL_IT_RUNNER:-scope}
SUITE=container  # which suite runs the scenario (a shared one may size itself to it)

# The socket and the service up (started at boot; a scenario before may have stopped them).
# Type=notify: active once the daemon has sent READY=1.
up() {
  systemctl start --no-block taskctld.socket taskctld.service || fail "systemctl start taskctld failed"
  until_ok 30 is_active taskctld.service ||
    fail "taskctld.service is $(systemctl is-active taskctld.service) 30 s after its start: no READY=1"
}
