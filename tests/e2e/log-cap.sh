#!/bin/bash
# A task printing 200 MiB leaves a log no larger than logs.max_bytes, whose
# end is the task's last output and whose cut is marked.
. "$(dirname "$0")/lib.sh"
printf '[logs]\nmax_bytes = 1048576\n' >"$CONFIG"
start_daemon
id=$(T submit -- sh -c 'head -c 209715200 /dev/zero | tr "\0" x | fold -w 100; printf "\\nthe-last-line\\n"')
T wait "$id" || fail "the task failed"
size=$(stat -c %s "$STATE/logs/$id-1.log")
[ "$size" -le 1048576 ] || fail "log is $size bytes, over the cap"
T logs "$id" >"$WORK/log"
[ "$(tail -n 1 "$WORK/log")" = the-last-line ] || fail "the log does not end with the last output"
head -n 1 "$WORK/log" | grep -q "^\[taskctl: [0-9]* bytes of earlier output dropped\]" ||
  fail "no cut marker: $(head -c 200 "$WORK/log")"
pass
