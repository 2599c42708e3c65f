#!/bin/bash
# retention.max_tasks = 100: after 1000 finished tasks at most 100 terminal
# tasks are stored and the pruned ones' logs are gone; `wait` on a pruned id
# exits as the task did; over 10 rounds of 1000 the task and attempt tables
# stop growing (pages after round 10 within 10% of round 3).
. "$(dirname "$0")/lib.sh"
printf '[retention]\nmax_tasks = 100\n' >"$CONFIG"
start_daemon
first=$(T submit -- sh -c 'echo first; exit 3')
T wait "$first" || true
[ -f "$STATE/logs/$first-1.log" ] || fail "no log file for task $first (layout changed?)"

pages() {  # table: branch + leaf + overflow pages (mdb_stat reads beside the daemon)
  mdb_stat -s "$1" "$STATE/store" | awk '/pages:/ {n += $NF} END {print n}'
}
stored() { T list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
round() {
  : >"$WORK/ids"
  for _ in $(seq 1000); do T submit -- echo "$RANDOM" >>"$WORK/ids"; done
  T wait $(cat "$WORK/ids") || fail "a task of round $1 did not succeed"
  for _ in $(seq 100); do [ "$(stored)" -le 100 ] && return 0; sleep 0.1; done
  fail "round $1: $(stored) tasks stored, not at most 100"
}
for r in $(seq 10); do
  round "$r"
  total=$(( $(pages tasks) + $(pages attempts) ))
  echo "round $r: $(stored) tasks stored, task+attempt pages $total"
  [ "$r" = 3 ] && at3=$total
  [ "$r" = 1 ] && {
    [ ! -f "$STATE/logs/$first-1.log" ] || fail "the pruned task's log is still there"
    logs=$(ls "$STATE/logs" | wc -l)
    [ "$logs" -le 110 ] || fail "$logs log files after pruning to 100 tasks"
    rc=0; T wait "$first" || rc=$?
    [ "$rc" = 3 ] || fail "wait on the pruned task $first exited $rc, not 3"
    T status --json "$first" | json pruned | grep -qx True || fail "status of $first is not a tombstone"
  }
done
python3 -c 'import sys; a, b = int(sys.argv[1]), int(sys.argv[2]); sys.exit(0 if b <= a * 1.1 else 1)' \
  "$at3" "$total" || fail "pages grew from $at3 (round 3) to $total (round 10)"

# A crash between a prune's commit and its unlinks leaves logs of pruned tasks: the next
# start sweeps them, and nothing else (a newer id's log, a file that is not a log).
crash_daemon
echo orphan >"$STATE/logs/$first-1.log"
echo orphan >"$STATE/logs/$first-2.log"
echo newer >"$STATE/logs/999999999-1.log"
echo keep >"$STATE/logs/notes.txt"
kept=$(ls "$STATE/logs" | grep -v -e "^$first-" -e '^999999999-' -e '^notes' | head -n 1)
start_daemon
swept() { [ ! -e "$STATE/logs/$first-1.log" ] && [ ! -e "$STATE/logs/$first-2.log" ]; }
for _ in $(seq 100); do swept && break; sleep 0.1; done
swept || fail "the orphaned logs of pruned task $first are still there after a restart"
[ -f "$STATE/logs/999999999-1.log" ] || fail "the sweep removed the log of an id not yet handed out"
[ -f "$STATE/logs/notes.txt" ] || fail "the sweep removed a file that is not a log"
[ -f "$STATE/logs/$kept" ] || fail "the sweep removed $kept, the log of a stored task"
grep 'removed the logs of tasks pruned before a crash' "$WORK/daemon.log" >/dev/null ||
  fail "no log line for the sweep: $(tail -n 5 "$WORK/daemon.log")"
pass
