#!/bin/bash
# SIGHUP reloads the TOML; an invalid file keeps the old config and logs
# why (file:line:column); a concurrency set at run time wins over the TOML
# until it is set back to default. A deleted --config file keeps the old
# config too.
. "$(dirname "$0")/lib.sh"
printf '[queues.q]\nconcurrency = 1\n' >"$CONFIG"
start_daemon
conc() { T --json queue list | python3 -c 'import json,sys
print([q for q in json.load(sys.stdin) if q["name"] == sys.argv[1]][0]["concurrency"])' "$1"; }
hup_and_wait() {  # expected log line
  local before; before=$(grep -c "$1" "$WORK/daemon.log" || true)
  kill -HUP "$DAEMON_PID"
  for _ in $(seq 100); do
    [ "$(grep -c "$1" "$WORK/daemon.log" || true)" -gt "$before" ] && return 0; sleep 0.05
  done
  fail "no \"$1\" in the log after SIGHUP"
}
[ "$(conc q)" = 1 ] || fail "start: $(conc q)"
printf '[queues.q]\nconcurrency = 3\n' >"$CONFIG"
hup_and_wait "config reloaded"
[ "$(conc q)" = 3 ] || fail "after a valid reload: $(conc q)"

printf '[queues.q]\nconcurrency = "many"\n' >"$CONFIG"
hup_and_wait "config reload failed; keeping the old config"
grep "config reload failed" "$WORK/daemon.log" | grep -q "taskctld.toml:2:" || fail "the error names no file:line"
[ "$(conc q)" = 3 ] || fail "an invalid reload changed the queue: $(conc q)"
kill -0 "$DAEMON_PID" || fail "the daemon died on an invalid reload"

T queue set q --concurrency 2 >/dev/null
printf '[queues.q]\nconcurrency = 5\n' >"$CONFIG"
hup_and_wait "config reloaded"
[ "$(conc q)" = 2 ] || fail "the TOML overrode a run-time setting: $(conc q)"
T queue set q --concurrency default >/dev/null
[ "$(conc q)" = 5 ] || fail "default is not the reloaded TOML's value: $(conc q)"

# The --config file deleted: the old config stays (not the built-in
# defaults), and the log says why, naming the file.
rm "$CONFIG"
hup_and_wait "config reload failed; keeping the old config"
grep "config reload failed" "$WORK/daemon.log" | tail -n 1 | grep -q "$CONFIG" ||
  fail "the error names no file: $(grep "config reload failed" "$WORK/daemon.log" | tail -n 1)"
[ "$(conc q)" = 5 ] || fail "a deleted config changed the queue: $(conc q)"
printf '[queues.q]\nconcurrency = 4\n' >"$CONFIG"
hup_and_wait "config reloaded"
[ "$(conc q)" = 4 ] || fail "the restored file was not reloaded: $(conc q)"
pass
