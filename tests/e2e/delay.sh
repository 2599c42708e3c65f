#!/bin/bash
# --in 2s submitted at T starts in [T+2, max(T+2, READY)+1], also across a
# daemon restart; --at in the past starts at once.
. "$(dirname "$0")/lib.sh"
start_daemon
now() { date +%s.%N; }
add() { python3 -c 'import sys; print(float(sys.argv[1]) + float(sys.argv[2]))' "$1" "$2"; }
started_within() {  # file low high
  python3 - "$@" <<'PY'
import sys
t = float(open(sys.argv[1]).read()); lo = float(sys.argv[2]); hi = float(sys.argv[3])
if not (lo <= t <= hi):
    print(f"started at {t:.3f}, not in [{lo:.3f}, {hi:.3f}]", file=sys.stderr); sys.exit(1)
PY
}
t0=$(now)
id=$(T submit --in 2s -- sh -c "date +%s.%N >'$WORK/a'")
[ "$(T status --json "$id" | json state)" = waiting ] || fail "not waiting"
T wait "$id"
started_within "$WORK/a" "$(add "$t0" 2)" "$(add "$t0" 3)" || fail "plain --in 2s"

# A restart in between: the deadline is kept.
t0=$(now)
id=$(T submit --in 2s -- sh -c "date +%s.%N >'$WORK/b'")
stop_daemon; sleep 0.5; start_daemon
T wait "$id"
started_within "$WORK/b" "$(add "$t0" 2)" "$(add "$t0" 3)" || fail "--in 2s across a restart"

# Down past the deadline: it starts within a second of READY.
t0=$(now)
id=$(T submit --in 2s -- sh -c "date +%s.%N >'$WORK/c'")
crash_daemon; sleep 3; start_daemon; ready=$(now)
T wait "$id"
started_within "$WORK/c" "$(add "$t0" 2)" "$(add "$ready" 1)" || fail "--in 2s with the daemon down past it"

# --at: an absolute time, here 2 s ahead in UTC, and one in the past.
t0=$(now)
at=$(date -u -d "@$(add "$t0" 3 | cut -d. -f1)" +%Y-%m-%dT%H:%M:%SZ)
lo=$(date -u -d "$at" +%s)
id=$(T submit --at "$at" -- sh -c "date +%s.%N >'$WORK/d'")
T wait "$id"
started_within "$WORK/d" "$lo" "$(add "$lo" 1)" || fail "--at $at"
id=$(T submit --at 2000-01-01T00:00 -- true); T wait "$id" || fail "--at in the past did not run"
pass
