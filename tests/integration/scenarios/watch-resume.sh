#!/bin/bash
# Issue 6, acceptance 2, under systemd with the scope runner: a watcher cut
# off during 1000 transitions (250 tasks) and restarted with
# `watch --from LAST+1` prints exactly the changes it missed: its two outputs
# together are the stored sequence, 0 gaps and 0 duplicates.
. "$(dirname "$0")/lib.sh"
up
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$@"; }
# Earlier scenarios left events behind: start after the newest.
probe=$(T submit -- true); T wait "$probe"
base=$(T status --json "$probe" | json last_seq)
from=$((base + 1))
follow() { taskctl --json watch --from "$1" >"$WORK/$2" & }
lines() { wc -l <"$WORK/$1"; }
follow "$from" first; first=$!
seq 250 | xargs -P 4 -I{} taskctl submit -- true >"$WORK/ids" & submits=$!
reached() { [ "$(lines first)" -ge 300 ]; }
until_ok 120 reached || fail "the first watcher saw $(lines first) changes"
kill -KILL "$first"; wait "$first" 2>/dev/null || true
python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); open(sys.argv[1], "wb").write(d[:d.rfind(b"\n") + 1])' \
  "$WORK/first"
last=$(tail -n 1 "$WORK/first" | json seq)
sleep 0.5
follow $((last + 1)) second; second=$!
wait "$submits"; T wait $(cat "$WORK/ids") || fail "a task did not succeed"
follow "$from" all; all=$!
done_all() { [ "$(lines all)" -ge 1000 ] && [ "$(lines second)" -ge $((1000 - (last - base))) ]; }
until_ok 60 done_all || fail "all: $(lines all), second: $(lines second)"
kill -INT "$second" "$all"; wait "$second" "$all" || true
echo "first: $from..$last; second: $(head -n 1 "$WORK/second" | json seq)..$(tail -n 1 "$WORK/second" | json seq)"
[ "$(lines all)" = 1000 ] || fail "$(lines all) changes stored, want 1000"
cat "$WORK/first" "$WORK/second" | cmp -s - "$WORK/all" || fail "first + second differ from the stored sequence"
pass
