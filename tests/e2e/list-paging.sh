#!/bin/bash
# `list` past one reply (issue 12, point 6). A reply is one message of at most 8 MiB (some 17,800
# tasks), so `list` pages. Two users submit 200,000 tasks at once into a paused queue; root's
# `list --all-users` shows every one once, in id order, as a table and as JSON, and its client
# never holds the whole JSON; each user's own list shows its own only; --limit and the filters
# work across pages; tasks with 1 MiB commands list too.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this scenario needs root (it switches to nobody)"
ROOT_TASKS=150000
NOBODY_TASKS=50000
TOTAL=$((ROOT_TASKS + NOBODY_TASKS))
printf '[queues.hold]\nconcurrency = 1\n' >"$CONFIG"
start_daemon
T queue pause hold >/dev/null
AS() { (cd /tmp && runuser -u nobody -- env TASKCTL_SOCKET="$TASKCTL_SOCKET" "$@"); }

# bench-submit-throughput: one connection, 100 submits in flight; --paused: they stay queued.
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
filled=$(date +%s%N)
"$BIN/bench-submit-throughput" --socket "$TASKCTL_SOCKET" --queue hold --paused \
  --count $ROOT_TASKS --warmup 0 --timeout 120 >"$WORK/fill.root" 2>&1 &
root_fill=$!
AS "$BIN/bench-submit-throughput" --socket "$TASKCTL_SOCKET" --queue hold --paused \
  --count $NOBODY_TASKS --warmup 0 --timeout 120 >"$WORK/fill.nobody" 2>&1 &
nobody_fill=$!
wait $root_fill || fail "root's submits: $(cat "$WORK/fill.root")"
wait $nobody_fill || fail "nobody's submits: $(cat "$WORK/fill.nobody")"
echo "submitted $TOTAL tasks in $(ms "$filled") ms"

# check_ids FILE WANT: FILE holds one id a line: WANT of them, strictly ascending.
check_ids() {
  awk -v want="$2" -v what="$1" 'NR > 1 && $1 <= prev { print what ": id " $1 " after " prev; bad = 1; exit }
    { prev = $1; n++ }
    END { if (!bad && n != want) print what ": " n " ids, want " want }' "$1"
}
# table ARGS...: `list ARGS` as a table, its ids (one a line) in $WORK/ids; fails on an exit.
table() {
  local rc=0
  T list "$@" >"$WORK/table" 2>"$WORK/err" || rc=$?
  [ $rc = 0 ] || fail "list $* exited $rc: $(cat "$WORK/err")"
  head -n 1 "$WORK/table" | grep -q '^ *ID  STATE  *QUEUE  PRI  EXIT  COMMAND$' ||
    fail "list $*: header $(head -n 1 "$WORK/table")"
  tail -n +2 "$WORK/table" | awk '{ print $1 }' >"$WORK/ids"
}

# Root, everyone's: every task once, in id order (before paging: exit 65, the reply too large).
started=$(date +%s%N)
table --all-users
echo "list --all-users (table) took $(ms "$started") ms"
bad=$(check_ids "$WORK/ids" $TOTAL); [ -z "$bad" ] || fail "$bad"
[ "$(head -n 1 "$WORK/ids")" = 1 ] || fail "the first id listed is $(head -n 1 "$WORK/ids")"
[ "$(grep -c '  queued  hold  ' "$WORK/table")" = $TOTAL ] || fail "rows that are not queued in hold"
cp "$WORK/ids" "$WORK/all-ids"

# The same as JSON, streamed: the client's peak memory stays far below the document's size.
started=$(date +%s%N)
python3 - "$BIN/taskctl" "$WORK/all.json" <<'EOF' || fail "list --all-users --json: see above"
import os, resource, subprocess, sys
with open(sys.argv[2], "wb") as out:
    rc = subprocess.run([sys.argv[1], "list", "--all-users", "--json"], stdout=out).returncode
if rc != 0:
    sys.exit("exit %d" % rc)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
size = os.path.getsize(sys.argv[2])
print("list --all-users --json: %d MB of JSON, client peak RSS %d MB" % (size >> 20, peak >> 20))
if peak > 64 << 20 or peak * 4 > size:
    sys.exit("the client held %d MB for %d MB of JSON" % (peak >> 20, size >> 20))
EOF
echo "list --all-users --json took $(ms "$started") ms"
python3 - "$WORK/all.json" "$ROOT_TASKS" "$NOBODY_TASKS" "$WORK/all-ids" <<'EOF' ||
import json, sys
tasks = json.load(open(sys.argv[1]))
ids = [t["id"] for t in tasks]
if ids != [int(line) for line in open(sys.argv[4])]:
    sys.exit("the JSON and the table list other ids")
uids = {}
for t in tasks:
    uids[t["uid"]] = uids.get(t["uid"], 0) + 1
if uids != {0: int(sys.argv[2]), 65534: int(sys.argv[3])}:
    sys.exit("owners: %s" % uids)
if len({t["last_seq"] for t in tasks}) != 1:
    sys.exit("more than one last_seq in one list")
EOF
  fail "list --all-users --json: see above"
rm -f "$WORK/all.json"

# Each user's own list: its own tasks only, every one of them.
table
bad=$(check_ids "$WORK/ids" $ROOT_TASKS); [ -z "$bad" ] || fail "root's own list: $bad"
cp "$WORK/ids" "$WORK/root-ids"
rc=0; AS "$BIN/taskctl" list >"$WORK/table" 2>"$WORK/err" || rc=$?
[ $rc = 0 ] || fail "nobody's list exited $rc: $(cat "$WORK/err")"
tail -n +2 "$WORK/table" | awk '{ print $1 }' >"$WORK/ids"
bad=$(check_ids "$WORK/ids" $NOBODY_TASKS); [ -z "$bad" ] || fail "nobody's list: $bad"
cp "$WORK/ids" "$WORK/nobody-ids"
# nobody's --all-users is its own list; together with root's they are everyone's.
[ "$(AS "$BIN/taskctl" list --all-users | tail -n +2 | awk '{ print $1 }')" = "$(cat "$WORK/ids")" ] ||
  fail "nobody's --all-users differs from its own list"
sort -n "$WORK/root-ids" "$WORK/ids" | cmp -s - "$WORK/all-ids" ||
  fail "root's and nobody's lists are not everyone's"

# --limit over pages: the newest N that match, in id order.
table --all-users --limit 2500
tail -n 2500 "$WORK/all-ids" | cmp -s - "$WORK/ids" || fail "--all-users --limit 2500: other ids"
rc=0; AS "$BIN/taskctl" list --limit 1500 >"$WORK/table" 2>"$WORK/err" || rc=$?
[ $rc = 0 ] || fail "nobody's list --limit exited $rc: $(cat "$WORK/err")"
tail -n +2 "$WORK/table" | awk '{ print $1 }' | cmp -s - <(tail -n 1500 "$WORK/nobody-ids") ||
  fail "nobody's --limit 1500: not its newest 1500"
# A filter that matches nothing reads the whole store in bounded pages and ends.
table --all-users --state running
[ ! -s "$WORK/ids" ] || fail "--state running listed $(wc -l <"$WORK/ids") tasks"
table --all-users --queue hold --state queued --limit 10
tail -n 10 "$WORK/all-ids" | cmp -s - "$WORK/ids" || fail "--queue hold --state queued --limit 10"

# Tasks with 1 MiB commands: twelve of them are 12 MiB, more than one reply holds.
arg=$(head -c 110000 /dev/zero | tr '\0' x)
big=()
for _ in $(seq 12); do
  big+=("$(T submit --queue hold -- echo "$arg" "$arg" "$arg" "$arg" "$arg" "$arg" "$arg" "$arg" "$arg")")
done
rc=0; T list --queue hold --limit 12 --json >"$WORK/big.json" 2>"$WORK/err" || rc=$?
[ $rc = 0 ] || fail "list of 1 MiB commands exited $rc: $(cat "$WORK/err")"
python3 - "$WORK/big.json" "${big[@]}" <<'EOF' || fail "list of 1 MiB commands: see above"
import json, sys
tasks = json.load(open(sys.argv[1]))
if [t["id"] for t in tasks] != [int(i) for i in sys.argv[2:]]:
    sys.exit("ids %s" % [t["id"] for t in tasks])
for t in tasks:
    if len(t["argv"]) != 10 or sum(len(a) for a in t["argv"]) != 4 + 9 * 110000:
        sys.exit("task %d: argv cut" % t["id"])
EOF
pass
