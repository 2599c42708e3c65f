#!/bin/bash
# A watcher that stops reading (SIGSTOP) while 100 000 events pass raises
# taskctld's RssAnon by at most 16 MiB, and once it reads again it is told it
# fell behind: exit 75 and the --from to resume with. (Without the watcher the
# same run grows RssAnon by 2-3 MiB on this machine; the bound here is on the
# whole growth, which is stricter than on the difference.)
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 8\n' >"$CONFIG"
start_daemon
rss() { awk '/^RssAnon:/ {print $2}' "/proc/$DAEMON_PID/status"; }  # kB
"$BIN/taskctl" watch >/dev/null 2>"$WORK/watch.err" & watcher=$!
# Stop it only once it follows live changes (one task's 4 have reached it).
T wait "$(T submit -- true)"; sleep 0.5
kill -STOP "$watcher"
before=$(rss)
# 25 tasks that fail and retry 1000 times, about 4 events an attempt: 100 000 events.
for _ in $(seq 25); do T submit --retries 1000 --backoff 1ms,1ms -- false; done >"$WORK/ids"
T wait $(cat "$WORK/ids") >/dev/null && fail "the failing tasks succeeded"
after=$(rss)
echo "RssAnon: $before kB before, $after kB after 100 000 events with a stalled watcher"
[ $((after - before)) -le $((16 * 1024)) ] || fail "RssAnon grew by $((after - before)) kB"
kill -CONT "$watcher"; rc=0; wait "$watcher" || rc=$?
[ "$rc" = 75 ] || fail "the stalled watcher exited $rc, not 75: $(cat "$WORK/watch.err")"
grep -q "fell behind.*resume with: taskctl watch --from [0-9]" "$WORK/watch.err" ||
  fail "no resume line: $(cat "$WORK/watch.err")"
grep -q "watcher fell behind" "$WORK/daemon.log" || fail "the daemon did not log it"
pass
