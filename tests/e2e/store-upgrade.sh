#!/bin/bash
# A store written by an older taskctld (format 3, built at e5e382f: see
# daemon/store/testdata/README) opens in today's daemon (format 4, issue 14):
# each task keeps its state, its queue and priority, its retry policy and key,
# and its limits, which format 4 keeps in the task's TaskLimits; the paused
# queue stays paused, a dependency still waits, a delay long past runs, the next id goes on
# from the old store's, and --check-store finds the upgraded file sound.
. "$(dirname "$0")/lib.sh"
FIXTURE=$(dirname "$0")/../../daemon/store/testdata/format3-e5e382f.tar.gz
[ -f "$FIXTURE" ] || fail "no fixture at $FIXTURE"

cat >"$CONFIG" <<'TOML'
[queues.batch]
concurrency = 1
TOML
mkdir -p "$STATE/store"
chmod 700 "$STATE" "$STATE/store"
tar -C "$STATE/store" -xzf "$FIXTURE"
start_daemon

field() { T status "$1" --json | json "${@:2}"; }
expect() {  # expect WHAT ACTUAL WANTED
  [ "$2" = "$3" ] || fail "$1: '$2', expected '$3'"
}

expect "task 1 state" "$(field 1 state)" succeeded
expect "task 1 timeout" "$(field 1 limits timeout_usec)" 3600000000
expect "task 1 kill grace" "$(field 1 limits kill_grace_usec)" 5000000
expect "task 1 heartbeat" "$(field 1 limits heartbeat_usec)" 30000000
expect "task 1 cpu" "$(field 1 limits cpu_quota_per_sec_usec)" 500000
expect "task 1 memory" "$(field 1 limits memory_max_bytes)" 536870912
expect "task 1 tasks max" "$(field 1 limits tasks_max)" 64

expect "task 2 state" "$(field 2 state)" queued
expect "task 2 queue" "$(field 2 queue)" batch
expect "task 2 priority" "$(field 2 priority)" -5
expect "task 2 timeout" "$(field 2 limits timeout_usec)" 120000000
expect "task 2 memory" "$(field 2 limits memory_max_bytes)" 1073741824
expect "task 2 retries" "$(field 2 retry retries)" 3
expect "task 2 key" "$(field 2 key)" nightly

# Task 3 was submitted `--in 1h` when the fixture was made: long past, so it
# runs at once, with its limits.
T wait 3 >/dev/null || fail "task 3 (its delay long past) did not succeed"
expect "task 3 heartbeat" "$(field 3 limits heartbeat_usec)" 10000000
expect "task 4 state" "$(field 4 state)" waiting
T queue list | grep -E '^batch\b.*paused' >/dev/null || fail "queue batch is no longer paused: $(T queue list)"

# The store goes on: a new task gets the next id and runs; the old queued
# one runs once its queue is resumed, and its dependent after it.
id=$(T submit --timeout 7s -- true)
expect "the next id" "$id" 5
T wait 5 >/dev/null || fail "task 5 did not succeed"
expect "task 5 timeout" "$(field 5 limits timeout_usec)" 7000000
T queue resume batch >/dev/null
T wait 2 4 >/dev/null || fail "tasks 2 and 4 did not succeed after the resume"
stop_daemon

"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --check-store >"$WORK/check.out" 2>&1 ||
  fail "the upgraded store does not check sound: $(cat "$WORK/check.out")"
pass
