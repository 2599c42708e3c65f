# Shared by the integration scenarios. Each one runs INSIDE the booted container, as root,
# against taskctld installed as the package would install it and run by systemd:
#
#   . "$(dirname "$0")/lib.sh"
#   up; T submit -- true; ...; pass
#
# fail prints the reason with the unit's status and journal; container.sh prints PASS/FAIL.
# container.sh runs it as `nsenter -t PID1 -a --wdns=/var/lib/taskctl-it bash scenarios/X.sh`;
# TASKCTL_IT_RUNNER says which runner the unit runs (scope, or direct through a drop-in).
set -euo pipefail

NAME=$(basename "$0" .sh)
RUNNER=${TASKCTL_IT_RUNNER:-scope}
SOCK=/run/taskctl/taskctl.sock
WORK=$(mktemp -d /var/tmp/taskctl-it-scenario.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

# What an operator would look at, printed with every failure.
diagnose() {
  echo "--- systemctl status taskctld.service taskctld.socket"
  systemctl status --no-pager --lines=0 taskctld.service taskctld.socket 2>&1 || true
  echo "--- journal of taskctld (last 25 lines)"
  journalctl -u taskctld.service -u taskctld.socket --no-pager -n 25 2>&1 || true
}
fail() { echo "FAIL: $NAME: $*" >&2; diagnose >&2; exit 1; }
pass() { exit 0; }        # container.sh prints the PASS line
T() { taskctl "$@"; }

# prop UNIT PROPERTY: one systemd property's value.
prop() { systemctl show --value -p "$2" "$1"; }
main_pid() { prop taskctld.service MainPID; }
is_active() { [ "$(systemctl is-active "$1")" = active ]; }

# until SECONDS CMD...: retry CMD every 0.1 s until it succeeds; false after SECONDS.
until_ok() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}

# The socket and the service up (started at boot; a scenario before may have stopped them).
# Type=notify: active once the daemon has sent READY=1.
up() {
  systemctl start --no-block taskctld.socket taskctld.service || fail "systemctl start taskctld failed"
  until_ok 30 is_active taskctld.service ||
    fail "taskctld.service is $(systemctl is-active taskctld.service) 30 s after its start: no READY=1"
}

# json FIELD...: read one JSON document on stdin, print a field (python3).
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$@"; }
