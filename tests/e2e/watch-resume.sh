#!/bin/bash
# A watcher killed during 1000 transitions (250 tasks) and restarted with
# `watch --from LAST+1` prints exactly the changes it missed: its two outputs
# together are the whole stored sequence, with 0 gaps and 0 duplicates.
. "$(dirname "$0")/lib.sh"
start_daemon
follow() { "$BIN/taskctl" --json watch --from "$1" >"$WORK/$2" & }
lines() { wc -l <"$WORK/$1"; }
follow 1 first; first=$!
seq 250 | xargs -P 4 -I{} "$BIN/taskctl" submit -- true >"$WORK/ids" & submits=$!
until [ "$(lines first)" -ge 300 ]; do sleep 0.02; done
kill -KILL "$first"; wait "$first" 2>/dev/null || true  # the connection drops mid-stream
python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); open(sys.argv[1], "wb").write(d[:d.rfind(b"\n") + 1])' \
  "$WORK/first"                                         # a line the kill cut short was not shown
last=$(tail -n 1 "$WORK/first" | json seq)
sleep 0.3                                               # changes go on while nobody watches
missed=$(( $(T list --json | json 0 last_seq) - last ))
[ "$missed" -gt 0 ] || fail "nothing happened while the watcher was away"
follow $((last + 1)) second; second=$!
wait "$submits"; T wait $(cat "$WORK/ids") || fail "a task did not succeed"
follow 1 all; all=$!
for _ in $(seq 200); do [ "$(lines all)" -ge 1000 ] && [ "$(lines second)" -ge $((1000 - last)) ] && break; sleep 0.1; done
kill -INT "$second" "$all"; wait "$second" "$all" || true
echo "first watcher: seq 1..$last; $missed changes while away; second: $(head -n 1 "$WORK/second" | json seq)..$(tail -n 1 "$WORK/second" | json seq)"
[ "$(lines all)" = 1000 ] || fail "$(lines all) changes stored, want 1000 (4 for each of 250 tasks)"
cat "$WORK/first" "$WORK/second" | cmp -s - "$WORK/all" || fail "first + second differ from the stored sequence"
pass
