#!/bin/bash
# run-submit-bench.sh BUILD_DIR [COUNT] [IN_FLIGHT]
#
# DESIGN 11, "durable submits through one connection, 100 in flight >= 20,000/s", measured
# side by side with what it must beat: LMDB with one durable commit per put, on the same disk
# (both under /var/tmp), in the same run. Builds nothing: BUILD_DIR/bin must hold taskctld,
# taskctl-exec, bench-submit-throughput and bench-lmdb-commit-per-put.
#
# Each round starts its own taskctld (direct runner, no bus) on a fresh state dir, with a queue
# `bench` of concurrency 1, so the measured submits only go through the store (see
# submit-throughput.c++); stops it; then runs the LMDB baseline on the same disk. Rounds
# (TASKCTL_BENCH_ROUNDS, default 3) alternate the two, and the table gives each round and the
# median, because a shared machine's noise lands on one round, not on all of them.
# Everything it made is removed, also on failure or timeout. The whole run is bounded by
# TASKCTL_BENCH_TIMEOUT seconds (default 600).
#
# Before/after: with TASKCTL_BENCH_BEFORE=OTHER_BUILD_DIR each round also runs OTHER_BUILD_DIR's
# taskctld (its bin/ needs taskctld and taskctl-exec; the client is this build's), in alternating
# order (odd rounds the other build first, even rounds this one first), and the table adds its
# submits/s and the ratio after/before.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() {
  echo "usage: $0 BUILD_DIR [COUNT (20000)] [IN_FLIGHT (100)]" >&2
  exit 64
}
[ $# -ge 1 ] && [ $# -le 3 ] || usage

TOTAL_TIMEOUT=${TASKCTL_BENCH_TIMEOUT:-600}
# Re-run under timeout(1) once: whatever hangs, timeout signals the whole process group (the
# daemon and the clients too), and the trap below cleans up.
if [ -z "${TASKCTL_BENCH_BOUNDED:-}" ]; then
  TASKCTL_BENCH_BOUNDED=1 exec timeout "$TOTAL_TIMEOUT" "$0" "$@"
fi

BIN=$(cd "$1" && pwd)/bin
COUNT=${2:-20000}
IN_FLIGHT=${3:-100}
ROUNDS=${TASKCTL_BENCH_ROUNDS:-3}
WARMUP=1000
for exe in taskctld taskctl-exec bench-submit-throughput bench-lmdb-commit-per-put; do
  [ -x "$BIN/$exe" ] || { echo "$0: $BIN/$exe is missing: build first" >&2; exit 66; }
done
BEFORE_BIN=
if [ -n "${TASKCTL_BENCH_BEFORE:-}" ]; then
  BEFORE_BIN=$(cd "$TASKCTL_BENCH_BEFORE" && pwd)/bin
  for exe in taskctld taskctl-exec; do
    [ -x "$BEFORE_BIN/$exe" ] || { echo "$0: $BEFORE_BIN/$exe is missing" >&2; exit 66; }
  done
fi

# /var/tmp, not /tmp: /tmp may be a tmpfs, where an fdatasync costs nothing and the
# comparison would say nothing about a disk.
DIR=$(mktemp -d /var/tmp/taskctl-bench.XXXXXX)
DAEMON_PID=
PERF_PID=
stop_daemon() {
  if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=
  fi
  if [ -n "$DAEMON_PID" ]; then
    stop_process "$DAEMON_PID"
    DAEMON_PID=
  fi
}
cleanup() {
  stop_daemon
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

# field NAME FILE KIND: the value of NAME=... on the RESULT line of KIND.
field() {
  awk -v kind="$3" -v name="$2" '$1 == "RESULT" && $2 == kind {
    for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) print kv[2] } }' "$1"
}
# median VALUE...: the middle value (the lower of the two middle ones for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "disk: $(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$DIR" 2>/dev/null || df -T "$DIR" | tail -1)"
echo "cpus: $(nproc); $COUNT submits/puts per round, $IN_FLIGHT in flight / per batch," \
  "$ROUNDS rounds"

# Commits the daemon makes while the client runs: LMDB makes one fdatasync per commit. Counted
# with a perf tracepoint (near-free) when perf can; strace would slow the daemon down.
CAN_PERF=
if command -v perf > /dev/null &&
   perf stat -e syscalls:sys_enter_fdatasync -o /dev/null -- true 2> /dev/null; then
  CAN_PERF=1
fi

printf '[queues.bench]\nconcurrency = 1\n' > "$DIR/config.toml"
# daemon_round DAEMON_BIN OUT: one daemon of DAEMON_BIN, fresh state, the client's submits into
# OUT (and the fdatasync count into OUT.perf.csv).
daemon_round() {
  local bin=$1 out=$2
  rm -rf "$DIR/state" "$DIR/sock"
  "$bin/taskctld" --state-dir "$DIR/state" --socket "$DIR/sock" --config "$DIR/config.toml" \
    --runner direct --bus none 2> "$out.daemon.log" &
  DAEMON_PID=$!
  for _ in $(seq 100); do [ -S "$DIR/sock" ] && break; sleep 0.05; done
  if [ ! -S "$DIR/sock" ]; then
    echo "$0: taskctld did not start:" >&2
    cat "$out.daemon.log" >&2
    exit 69
  fi
  if [ -n "$CAN_PERF" ]; then
    perf stat -x, -e syscalls:sys_enter_fdatasync -o "$out.perf.csv" -p "$DAEMON_PID" &
    PERF_PID=$!
    sleep 0.2  # let perf attach before the first submit
  fi
  "$BIN/bench-submit-throughput" --socket "$DIR/sock" --count "$COUNT" \
    --in-flight "$IN_FLIGHT" --warmup "$WARMUP" --daemon-pid "$DAEMON_PID" \
    --timeout $((TOTAL_TIMEOUT / (3 * ROUNDS) + 1)) | tee "$out"
  stop_daemon
}

for round in $(seq "$ROUNDS"); do
  echo "--- round $round"
  if [ -n "$BEFORE_BIN" ] && [ $((round % 2)) = 1 ]; then
    echo "(before: $BEFORE_BIN)"
    daemon_round "$BEFORE_BIN" "$DIR/before.$round.out"
  fi
  daemon_round "$BIN" "$DIR/submit.$round.out"
  if [ -n "$BEFORE_BIN" ] && [ $((round % 2)) = 0 ]; then
    echo "(before: $BEFORE_BIN)"
    daemon_round "$BEFORE_BIN" "$DIR/before.$round.out"
  fi
  # The daemons' job is done (each stopped): the baseline never shares the disk with one.
  "$BIN/bench-lmdb-commit-per-put" --dir "$DIR" --count "$COUNT" --batch "$IN_FLIGHT" |
    tee "$DIR/lmdb.$round.out"
done

echo
printf '%-6s %10s %8s %8s %10s %10s %8s %6s %9s %10s\n' "round" "submits/s" "p50 us" \
  "p99 us" "commit/put" "batch" "ratio" "/ceil" "daemon us" "sub/commit"
SUBMITS=() PER_PUTS=() BATCHES=() RATIOS=() CPUS=()
for round in $(seq "$ROUNDS"); do
  s=$(field "$DIR/submit.$round.out" per_sec submit)
  p=$(field "$DIR/lmdb.$round.out" per_sec commit-per-put)
  b=$(field "$DIR/lmdb.$round.out" per_sec batch)
  cpu=$(field "$DIR/submit.$round.out" daemon_cpu_us submit)
  per_commit=n/a
  if [ -n "$CAN_PERF" ]; then
    # The warm-up and the blocker's own commits fall in the same window.
    per_commit=$(awk -F, -v n=$((COUNT + WARMUP)) '/fdatasync/ && $1 > 0 {
      printf "%.0f", n / $1 }' "$DIR/submit.$round.out.perf.csv")
  fi
  ratio=$(awk -v s="$s" -v p="$p" 'BEGIN { printf "%.1f", s / p }')
  ceil=$(awk -v s="$s" -v b="$b" 'BEGIN { printf "%.2f", s / b }')
  printf '%-6s %10s %8s %8s %10s %10s %8s %6s %9s %10s\n' "$round" "$s" \
    "$(field "$DIR/submit.$round.out" p50_us submit)" \
    "$(field "$DIR/submit.$round.out" p99_us submit)" "$p" "$b" "${ratio}x" "$ceil" "$cpu" \
    "$per_commit"
  SUBMITS+=("$s") PER_PUTS+=("$p") BATCHES+=("$b") RATIOS+=("$ratio") CPUS+=("$cpu")
done
SUBMIT=$(median "${SUBMITS[@]}")
printf '%-6s %10s %8s %8s %10s %10s %8s %6s %9s\n' "median" "$SUBMIT" "" "" \
  "$(median "${PER_PUTS[@]}")" "$(median "${BATCHES[@]}")" "$(median "${RATIOS[@]}")x" "" \
  "$(median "${CPUS[@]}")"
echo
echo "submits/s: taskctld, 1 connection, $IN_FLIGHT in flight, group commit, durable replies"
echo "commit/put: LMDB puts/s, one durable commit per put; batch: $IN_FLIGHT puts per commit"
echo "ratio: submits/s / commit-per-put puts/s (same round); /ceil: submits/s / batch puts/s"
echo "daemon us: taskctld CPU per submit; sub/commit: submits per LMDB commit (fdatasync)"
echo "DESIGN 11 target >= 20000 submits/s (median): $(awk -v s="$SUBMIT" 'BEGIN {
  print (s >= 20000 ? "met" : "NOT met") }')"
if [ -n "$BEFORE_BIN" ]; then
  echo
  printf '%-6s %14s %14s %8s\n' "round" "before/s" "after/s" "ratio"
  AFTERS=() BEFORES=() CHANGES=()
  for round in $(seq "$ROUNDS"); do
    a=$(field "$DIR/submit.$round.out" per_sec submit)
    b=$(field "$DIR/before.$round.out" per_sec submit)
    r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')
    printf '%-6s %14s %14s %8s\n' "$round" "$b" "$a" "$r"
    AFTERS+=("$a") BEFORES+=("$b") CHANGES+=("$r")
  done
  printf '%-6s %14s %14s %8s\n' "median" "$(median "${BEFORES[@]}")" "$(median "${AFTERS[@]}")" \
    "$(median "${CHANGES[@]}")"
  echo "before: $BEFORE_BIN; after: $BIN (ratio: after/before, same round)"
fi
