# What the container suite (tests/integration) and the VM suite (tests/vm) share: sourced by
# each suite's scenarios/lib.sh, which adds its own `up` and paths. container.sh and vm.sh copy
# this directory's files next to their own scenarios, so every scenario finds it at
# "$(dirname "$0")/common.sh" inside the container or the VM.
set -euo pipefail

NAME=$(basename "$0" .sh)
SOCK=/run/taskctl/taskctl.sock
WORK=$(mktemp -d /var/tmp/taskctl-scenario.XXXXXX)
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
pass() { exit 0; }        # the suite's runner prints the PASS line
T() { taskctl "$@"; }

# prop UNIT PROPERTY: one systemd property's value.
prop() { systemctl show --value -p "$2" "$1"; }
main_pid() { prop taskctld.service MainPID; }
is_active() { [ "$(systemctl is-active "$1")" = active ]; }

# concurrency N: run up to N tasks of the default queue at once (persisted in the store, not in
# the package's conffile); `concurrency default` goes back to the config's.
concurrency() { T queue set default --concurrency "$1" >/dev/null || fail "queue set --concurrency $1 failed"; }

# until_ok SECONDS CMD...: retry CMD every 0.1 s until it succeeds; false after SECONDS.
until_ok() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done
}

# json FIELD...: read one JSON document on stdin, print a field (python3).
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$@"; }
