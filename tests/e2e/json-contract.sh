#!/bin/bash
# The --json contract (docs/json.md), read with jq as a script would: one document per command,
# no empty "attempts" in list, logs and cancel as documents, an unknown queue refused, watch of an
# ended task returns, missing values null (never ""), bytes that are not UTF-8 kept as arrays of
# bytes, and progress lines that carry at and queue.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is missing (scripts/deps installs it)"
start_daemon
# Every point is checked, each failure told, so that one broken point hides no other.
failures=0
bad() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# submit --wait --json: exactly one document, the ended task.
T --json submit --wait -- sh -c 'echo out; echo err >&2' >"$WORK/sw" 2>"$WORK/sw.err"
[ "$(jq -s length <"$WORK/sw")" = 1 ] || bad "submit --wait --json printed: $(cat "$WORK/sw")"
jq -e '.state == "succeeded" and (.attempts | length) == 1' <"$WORK/sw" >/dev/null ||
  bad "not the ended task: $(cat "$WORK/sw")"
id=$(jq -s '.[-1].id' <"$WORK/sw")

# list --json: no "attempts": [] for a task that ran.
T --json list >"$WORK/list"
jq -e --argjson id "$id" '.[] | select(.id == $id) | has("attempts") | not' <"$WORK/list" >/dev/null ||
  bad "list shows attempts it does not have: $(cat "$WORK/list")"

# Missing values are null: an ended task with output, a cwd and a queue has no "" anywhere.
T --json status "$id" >"$WORK/status"
[ "$(jq '[.. | select(. == "")] | length' <"$WORK/status")" = 0 ] ||
  bad "empty strings in status: $(jq -c '[paths(. == "")]' <"$WORK/status")"
jq -e '.waiting_for == null and .key == null and .attempts[0].status_text == null' \
  <"$WORK/status" >/dev/null || bad "missing values not null: $(cat "$WORK/status")"

# logs --json: one object a line; their texts are the log exactly.
T --json logs "$id" >"$WORK/logs.json"
jq -e -s 'length == 2 and all(.[]; has("attempt") and has("offset") and has("text"))' \
  <"$WORK/logs.json" >/dev/null || bad "logs --json: $(cat "$WORK/logs.json")"
[ "$(jq -j .text <"$WORK/logs.json")" = "$(T logs "$id")" ] || bad "logs --json texts differ from the log"
[ "$(jq -s '.[1].offset' <"$WORK/logs.json")" = 4 ] || bad "second line not at offset 4"

# cancel --json: one document, the tasks as status shows them (a running one may still be
# stopping when the cancel returns).
long=$(T submit -- sleep 30)
T --json cancel "$long" >"$WORK/cancel"
[ "$(jq -s length <"$WORK/cancel")" = 1 ] || bad "cancel --json: not one document: $(cat "$WORK/cancel")"
jq -e --argjson id "$long" 'length == 1 and .[0].id == $id and (.[0].state == "cancelled" or .[0].state == "running") and
  (.[0].attempts | type) == "array"' <"$WORK/cancel" >/dev/null || bad "cancel --json: $(cat "$WORK/cancel")"

# list --queue nope: refused like --state bogus.
rc=0; T list --queue nope >/dev/null 2>"$WORK/q.err" || rc=$?
[ $rc = 65 ] || bad "list --queue nope exited $rc, want 65"
grep -q 'unknown queue "nope"' "$WORK/q.err" || bad "no message: $(cat "$WORK/q.err")"
rc=0; T list --state bogus >/dev/null 2>&1 || rc=$?
[ $rc = 65 ] || bad "list --state bogus exited $rc"
T list --queue default >/dev/null || bad "list --queue default refused"

# watch ID of an ended task: its last change, then exit 0 (bounded: a hang fails).
rc=0; timeout 10 "$BIN/taskctl" --json watch "$id" >"$WORK/w" || rc=$?
[ $rc = 0 ] || bad "watch of an ended task exited $rc"
[ "$(jq -s length <"$WORK/w")" = 1 ] || bad "watch of an ended task: not one line: $(cat "$WORK/w")"
jq -e --argjson id "$id" '.id == $id and .to == "succeeded" and .seq == null and .at != null' \
  <"$WORK/w" >/dev/null || bad "watch of an ended task printed: $(cat "$WORK/w")"
# ... and a running one is followed to its end.
short=$(T submit -- sleep 1)
rc=0; timeout 10 "$BIN/taskctl" --json watch "$short" >"$WORK/w2" || rc=$?
[ $rc = 0 ] || bad "watch of a running task exited $rc"
[ "$(tail -n1 "$WORK/w2" | jq -r .to)" = succeeded ] || bad "watch did not end with the task: $(cat "$WORK/w2")"

# Bytes that are not UTF-8 (argv, label value and key, output) come back exactly, as arrays.
bad=$(T submit --label $'v=caf\xe9' --label $'k\xff=x' -- sh -c 'printf "\\377\\n"; true' $'\xfe')
T wait "$bad"
T --json status "$bad" >"$WORK/bad"
jq -e '.argv[3] == [254] and .labels.v == [99,97,102,233] and
       .labels_undecodable == [{"key": [107,255], "value": "x"}] and
       .attempts[0].output_tail == [255,10]' <"$WORK/bad" >/dev/null ||
  bad "bytes not kept: $(cat "$WORK/bad")"
grep -q '\\udc' "$WORK/bad" && bad "a lone surrogate in: $(cat "$WORK/bad")"
[ "$(T --json logs "$bad" | jq -c .text)" = "[255,10]" ] || bad "logs --json of bytes"

# watch --json --progress: progress lines carry at and queue like state lines.
"$BIN/taskctl" --json watch --progress >"$WORK/progress" & watcher=$!
sleep 0.3
p=$(T submit -- sh -c '"$0" progress 0.5; sleep 1' "$BIN/taskctl")
T wait "$p"
for _ in $(seq 50); do grep -q '"progress"' "$WORK/progress" && break; sleep 0.1; done
kill -INT "$watcher"; wait "$watcher" || true
grep '"event":"progress"' "$WORK/progress" | head -n1 >"$WORK/p1"
[ -s "$WORK/p1" ] || bad "no progress line: $(cat "$WORK/progress")"
[ -s "$WORK/p1" ] && jq -e '.queue == "default" and (.at | test("^[0-9-]+T[0-9:.]+Z$")) and .progress == 0.5' \
  <"$WORK/p1" >/dev/null || bad "progress line: $(cat "$WORK/p1")"
[ $failures = 0 ] || fail "$failures points of the JSON contract broken"
pass
