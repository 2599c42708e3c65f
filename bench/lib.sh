# Shared by the bench scripts (sourced).

# stop_process PID: SIGTERM, up to 5 s to exit, then SIGKILL; reaped. For the daemons a bench
# started, also on the way out of a failed run.
stop_process() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
