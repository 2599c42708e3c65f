#!/bin/bash
# run-submit-bench.sh BUILD_DIR [COUNT] [IN_FLIGHT]
#
# DESIGN 11, "durable submits through one connection, 100 in flight >= 20,000/s", measured
# side by side with what it must beat: LMDB with one durable commit per put, on the same disk
# (both under /var/tmp), in the same run. Builds nothing: BUILD_DIR/bin must hold taskctld,
# bench-submit-throughput and bench-lmdb-commit-per-put.
#
# Starts its own taskctld (direct runner, no bus) on a fresh state dir, with a queue `bench` of
# concurrency 1, so the measured submits only go through the store (see
# submit-throughput.c++). Stops it and removes everything it made, also on failure or timeout.
# The whole run is bounded by TASKCTL_BENCH_TIMEOUT seconds (default 600).
set -euo pipefail

usage() {
  echo "usage: $0 BUILD_DIR [COUNT (20000)] [IN_FLIGHT (100)]" >&2
  exit 64
}
[ $# -ge 1 ] && [ $# -le 3 ] || usage

TOTAL_TIMEOUT=${TASKCTL_BENCH_TIMEOUT:-600}
# Re-run under timeout(1) once: whatever hangs, the script ends and its trap cleans up.
if [ -z "${TASKCTL_BENCH_BOUNDED:-}" ]; then
  TASKCTL_BENCH_BOUNDED=1 exec timeout "$TOTAL_TIMEOUT" "$0" "$@"
fi

BIN=$(cd "$1" && pwd)/bin
COUNT=${2:-20000}
IN_FLIGHT=${3:-100}
for exe in taskctld bench-submit-throughput bench-lmdb-commit-per-put; do
  [ -x "$BIN/$exe" ] || { echo "$0: $BIN/$exe is missing: build first" >&2; exit 66; }
done

# /var/tmp, not /tmp: /tmp may be a tmpfs, where an fdatasync costs nothing and the
# comparison would say nothing about a disk.
DIR=$(mktemp -d /var/tmp/taskctl-bench.XXXXXX)
DAEMON_PID=
PERF_PID=
cleanup() {
  if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID" 2>/dev/null || true; fi
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

# CPU seconds a process has used so far (user + system), from /proc/PID/stat.
cpu_seconds() {
  awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / tck }' \
    "/proc/$1/stat"
}

# What the disk is, for the record.
echo "disk: $(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$DIR" 2>/dev/null || df -T "$DIR" | tail -1)"
echo "cpus: $(nproc)"

printf '[queues.bench]\nconcurrency = 1\n' > "$DIR/config.toml"
"$BIN/taskctld" --state-dir "$DIR/state" --socket "$DIR/sock" --config "$DIR/config.toml" \
  --runner direct --bus none 2> "$DIR/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$DIR/sock" ] && break; sleep 0.05; done
[ -S "$DIR/sock" ] || { echo "$0: taskctld did not start:" >&2; cat "$DIR/daemon.log" >&2; exit 69; }

# Commits the daemon makes while the client runs: LMDB makes one fdatasync per commit.
# Counted with a perf tracepoint (near-free) when perf can; strace would slow the daemon down.
if command -v perf > /dev/null &&
   perf stat -e syscalls:sys_enter_fdatasync -o /dev/null -- true 2> /dev/null; then
  perf stat -x, -e syscalls:sys_enter_fdatasync -o "$DIR/perf.csv" -p "$DAEMON_PID" &
  PERF_PID=$!
  sleep 0.2  # let perf attach before the first submit
fi

CPU_BEFORE=$(cpu_seconds "$DAEMON_PID")
"$BIN/bench-submit-throughput" --socket "$DIR/sock" --count "$COUNT" --in-flight "$IN_FLIGHT" \
  --timeout $((TOTAL_TIMEOUT / 2)) | tee "$DIR/submit.out"
CPU_AFTER=$(cpu_seconds "$DAEMON_PID")

COMMITS=n/a
if [ -n "$PERF_PID" ]; then
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  PERF_PID=
  COMMITS=$(awk -F, '/fdatasync/ { print $1 }' "$DIR/perf.csv")
fi

# The daemon's job is done: stop it before the baseline, so the two never share the disk.
kill -TERM "$DAEMON_PID"
for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
DAEMON_PID=

"$BIN/bench-lmdb-commit-per-put" --dir "$DIR" --count "$COUNT" --batch "$IN_FLIGHT" |
  tee "$DIR/lmdb.out"

# field NAME FILE KIND: the value of NAME=... on the RESULT line of KIND.
field() { awk -v kind="$3" -v name="$2" '$1 == "RESULT" && $2 == kind {
  for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) print kv[2] } }' "$1"; }

SUBMIT=$(field "$DIR/submit.out" per_sec submit)
SUBMIT_P50=$(field "$DIR/submit.out" p50_us submit)
SUBMIT_P99=$(field "$DIR/submit.out" p99_us submit)
PER_PUT=$(field "$DIR/lmdb.out" per_sec commit-per-put)
PER_PUT_P50=$(field "$DIR/lmdb.out" commit_p50_us commit-per-put)
PER_PUT_P99=$(field "$DIR/lmdb.out" commit_p99_us commit-per-put)
BATCH=$(field "$DIR/lmdb.out" per_sec batch)
BATCH_P50=$(field "$DIR/lmdb.out" commit_p50_us batch)
BATCH_P99=$(field "$DIR/lmdb.out" commit_p99_us batch)

echo
echo "results ($COUNT each; $IN_FLIGHT in flight / per batch)"
printf '%-42s %12s %10s %10s\n' "what" "per second" "p50 us" "p99 us"
printf '%-42s %12s %10s %10s\n' "taskctld submit, 1 connection (group commit)" \
  "$SUBMIT" "$SUBMIT_P50" "$SUBMIT_P99"
printf '%-42s %12s %10s %10s\n' "LMDB, one commit per put" "$PER_PUT" "$PER_PUT_P50" "$PER_PUT_P99"
printf '%-42s %12s %10s %10s\n' "LMDB, $IN_FLIGHT puts per commit (ceiling)" \
  "$BATCH" "$BATCH_P50" "$BATCH_P99"
echo "(submit latency is per call; LMDB latency is per commit)"
awk -v s="$SUBMIT" -v p="$PER_PUT" -v b="$BATCH" 'BEGIN {
  printf "ratio group-commit submits/s / commit-per-put puts/s: %.1fx\n", s / p
  printf "group-commit submits/s / batched-put ceiling: %.2f\n", s / b
}'
echo "DESIGN 11 target: >= 20000 submits/s: $(awk -v s="$SUBMIT" 'BEGIN {
  print (s >= 20000 ? "met" : "NOT met") }')"
echo "daemon CPU during the submit run: $(awk -v a="$CPU_BEFORE" -v b="$CPU_AFTER" 'BEGIN {
  printf "%.2f s", b - a }')"
if [ "$COMMITS" != n/a ]; then
  # The client also submits a blocker and a warm-up (1000 by default) in that window.
  echo "daemon commits (fdatasync) during the submit run: $COMMITS," \
    "about $(awk -v c="$COMMITS" -v n="$COUNT" 'BEGIN { printf "%.0f", (n + 1000) / c }')" \
    "submits per commit"
fi
