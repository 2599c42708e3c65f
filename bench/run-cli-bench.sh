#!/bin/bash
# run-cli-bench.sh [--runner direct|scope] [--parts a,b,d] BUILD_DIR
#
# DESIGN 11's whole-process targets, each measured side by side with its peers in the same run,
# in alternating rounds, and quoted as ratios:
#
#   (a) one whole `taskctl submit -- true` process vs `tsp true`: p50/p99 per process.
#   (b) 1000 x `true` submitted by the CLI (a shell loop), first submit to all done:
#       taskctl (queue `default`, concurrency 2, then `taskctl wait` on every id) vs task-spooler
#       with 2 slots (`tsp -w` on the last job, then until `tsp -l` shows none unfinished); with
#       --runner scope also a loop of `systemd-run --scope -q true`. With --runner scope this is
#       DESIGN 11's (c), "the same with a scope per execution".
#   (d) submit returned -> command running, idle daemon: the command is bench-stamp, which
#       writes CLOCK_REALTIME at its start; bench-spawn-timer takes the time when the submitting
#       process has exited (and when it was spawned); vs `tsp bench-stamp`.
#
# --runner direct (default): taskctld --runner direct --bus none, anywhere.
# --runner scope: taskctld --runner scope --bus system; needs systemd as PID 1 and the system
#   bus, i.e. the booted container of tests/integration/ (see bench/README.md), as root.
#
# Builds nothing: BUILD_DIR/bin must hold taskctld, taskctl, taskctl-exec, bench-spawn-timer
# and bench-stamp. Needs task-spooler (`tsp`, Debian package task-spooler). Each taskctl round
# starts its own taskctld on a fresh state dir under /var/tmp, and each tsp round its own
# server (own TS_SOCKET and TMPDIR there, killed with `tsp -K` after the round). Everything it
# made is removed, also on failure or timeout; the whole run is bounded by TASKCTL_BENCH_TIMEOUT
# seconds (default 1800).
#
# Sizes (environment): A_COUNT (2000 processes per peer), A_ROUNDS (10), B_COUNT (1000),
# B_ROUNDS (5), D_COUNT (500 samples per peer), D_ROUNDS (5), D_GAP_MS (20).
# Diagnostics: TASKCTL_BENCH_EXEC_PATH, a taskctl-exec to use instead of BUILD_DIR's (taskctld
# --exec-path), to compare two builds of the shim; TASKCTL_BENCH_STATE_PARENT (/var/tmp), where
# the state and tsp's output files go (/dev/shm: what the disk costs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() {
  echo "usage: $0 [--runner direct|scope] [--parts a,b,d] BUILD_DIR" >&2
  exit 64
}
RUNNER=direct
PARTS=a,b,d
ARGS=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --runner) [ $# -ge 2 ] || usage; RUNNER=$2; shift 2;;
    --runner=*) RUNNER=${1#*=}; shift;;
    --parts) [ $# -ge 2 ] || usage; PARTS=$2; shift 2;;
    --parts=*) PARTS=${1#*=}; shift;;
    -h|--help) usage;;
    -*) usage;;
    *) break;;
  esac
done
[ $# -eq 1 ] || usage
case $RUNNER in direct|scope) ;; *) usage;; esac
has_part() { case ",$PARTS," in *",$1,"*) return 0;; *) return 1;; esac; }

TOTAL_TIMEOUT=${TASKCTL_BENCH_TIMEOUT:-1800}
# Re-run under timeout(1) once: whatever hangs, timeout signals the whole process group (the
# daemons and the clients too), and the trap below cleans up.
if [ -z "${TASKCTL_BENCH_BOUNDED:-}" ]; then
  TASKCTL_BENCH_BOUNDED=1 exec timeout "$TOTAL_TIMEOUT" "$0" "${ARGS[@]}"
fi

BIN=$(cd "$1" && pwd)/bin
A_COUNT=${A_COUNT:-2000} A_ROUNDS=${A_ROUNDS:-10}
B_COUNT=${B_COUNT:-1000} B_ROUNDS=${B_ROUNDS:-5}
D_COUNT=${D_COUNT:-500} D_ROUNDS=${D_ROUNDS:-5} D_GAP_MS=${D_GAP_MS:-20}
for exe in taskctld taskctl taskctl-exec bench-spawn-timer bench-stamp; do
  [ -x "$BIN/$exe" ] || { echo "$0: $BIN/$exe is missing: build first" >&2; exit 66; }
done
TSP=$(command -v tsp) || { echo "$0: tsp is missing: apt-get install task-spooler" >&2; exit 69; }
SYSTEMD_RUN=
if [ "$RUNNER" = scope ]; then
  [ "$(cat /proc/1/comm)" = systemd ] ||
    { echo "$0: --runner scope needs systemd as PID 1 (the booted container)" >&2; exit 69; }
  SYSTEMD_RUN=$(command -v systemd-run) || { echo "$0: systemd-run is missing" >&2; exit 69; }
  # This run's own taskctld names its scopes taskctl-<id>-<attempt>.scope, as any other does:
  # another one running tasks at the same time could collide (an idle one cannot).
  others=$(pgrep -x taskctld | tr '\n' ' ' || true)
  [ -z "$others" ] || echo "note: another taskctld runs here (pid $others); it must stay idle"
fi
TASKCTL=$BIN/taskctl
SHIM=${TASKCTL_BENCH_EXEC_PATH:-$BIN/taskctl-exec}
[ -x "$SHIM" ] || { echo "$0: $SHIM is not executable" >&2; exit 66; }
TIMER=$BIN/bench-spawn-timer
STAMP=$BIN/bench-stamp

# The state (LMDB store, run dirs, logs) and tsp's output files on disk, as /var/lib/taskctl and
# /tmp are on a server: /var/tmp, not /tmp, which may be a tmpfs. The sockets on a tmpfs, as
# /run is: taskctld makes each attempt's notify socket beside its RPC socket (/run/taskctl/notify
# under systemd), and a socket inode on a disk costs an inode allocation per attempt.
DIR=$(mktemp -d "${TASKCTL_BENCH_STATE_PARENT:-/var/tmp}/taskctl-cli-bench.XXXXXX")
chmod 755 "$DIR"  # the stamp file is written by the task
RUN_PARENT=$DIR
for d in /run /dev/shm; do
  if [ "$(stat -f -c %T "$d" 2>/dev/null)" = tmpfs ]; then RUN_PARENT=$d; break; fi
done
RUNDIR=$(mktemp -d "$RUN_PARENT/taskctl-cli-bench.XXXXXX") || { rm -rf "$DIR"; exit 73; }
DAEMON_PID=
export TASKCTL_SOCKET=$RUNDIR/sock
# task-spooler: its own server socket and output files, 2 slots from the start, and room for
# all of (b)'s finished jobs in its list.
export TS_SOCKET=$RUNDIR/tsp.sock TMPDIR=$DIR/tsp-tmp TS_SLOTS=2 TS_MAXFINISHED=$((B_COUNT + 100))
unset TS_ONFINISH TS_ENV TS_SAVELIST TS_MAILTO
mkdir -p "$TMPDIR"

BLOCKER=
stop_daemon() {
  if [ -n "$BLOCKER" ] && [ -n "$DAEMON_PID" ]; then
    # The direct runner's executions outlive the daemon: end the blocker first.
    timeout 10 "$TASKCTL" cancel "$BLOCKER" >/dev/null 2>&1 || true
    timeout 10 "$TASKCTL" wait "$BLOCKER" >/dev/null 2>&1 || true
  fi
  BLOCKER=
  if [ -n "$DAEMON_PID" ]; then
    stop_process "$DAEMON_PID"
    DAEMON_PID=
  fi
}
stop_tsp() {
  # -K kills the server (and its queue); a job still running is left alone, and every job here
  # is a `true` or a bench-stamp, gone in milliseconds.
  if [ -S "$TS_SOCKET" ]; then timeout 10 "$TSP" -K >/dev/null 2>&1 || true; fi
  rm -f "$TS_SOCKET"
}
cleanup() {
  stop_daemon
  stop_tsp
  rm -rf "$DIR" "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

# `held`: one slot, taken by a blocker in (a), so that what is submitted there only gets stored.
printf '[queues.default]\nconcurrency = 2\n\n[queues.held]\nconcurrency = 1\n' > "$DIR/config.toml"
NDAEMON=0
start_daemon() {
  stop_daemon
  rm -rf "$DIR/state" "$RUNDIR/sock" "$RUNDIR/notify"
  NDAEMON=$((NDAEMON + 1))
  local bus=none
  [ "$RUNNER" = scope ] && bus=system
  "$BIN/taskctld" --state-dir "$DIR/state" --socket "$RUNDIR/sock" --config "$DIR/config.toml" \
    --runner "$RUNNER" --bus "$bus" --exec-path "$SHIM" 2> "$DIR/daemon.$NDAEMON.log" &
  DAEMON_PID=$!
  for _ in $(seq 100); do [ -S "$RUNDIR/sock" ] && break; sleep 0.05; done
  if [ ! -S "$RUNDIR/sock" ]; then
    echo "$0: taskctld did not start:" >&2
    cat "$DIR/daemon.$NDAEMON.log" >&2
    exit 69
  fi
}
start_tsp() {
  stop_tsp
  "$TSP" -S 2 >/dev/null  # starts the server, outside any timing
}

# CPU ticks (user + system) of a process so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# pcts FILE: p50 and p99 (nearest rank) of the numbers in FILE, in us, "p50 p99".
pcts() {
  sort -g "$1" | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a n/a"; exit }
    i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; if (i50 < 1) i50 = 1
    i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++; if (i99 < 1) i99 = 1
    printf "%.0f %.0f\n", v[i50] / 1000, v[i99] / 1000 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

link_mode() {
  local f
  f=$(file -bL "$1" 2>/dev/null || true)
  case $f in
    *"statically linked"*|*"static-pie linked"*) echo static;;
    *"dynamically linked"*) echo "dynamic ($(ldd "$1" 2>/dev/null | grep -c '=>') shared libs)";;
    *) echo unknown;;
  esac
}

echo "runner: $RUNNER; cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "kernel $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
# ext4 without a journal checks every free inode it considers for a recent deletion
# (recently_deleted()): creating files and directories costs more there after much churn.
src=$(findmnt -n -o SOURCE -T "$DIR" 2>/dev/null | head -n 1 || true)
journal=
if [ "$(findmnt -n -o FSTYPE -T "$DIR" 2>/dev/null | head -n 1)" = ext4 ] && [ -d /proc/fs/jbd2 ]; then
  journal=", journal: none"
  for j in /proc/fs/jbd2/"$(basename "$src")"-*; do [ -e "$j" ] && journal=", journal: yes"; done
fi
echo "state: $DIR on $(findmnt -n -o SOURCE,FSTYPE -T "$DIR" 2>/dev/null | head -n 1)$journal;" \
  "sockets: $RUNDIR on $(stat -f -c %T "$RUNDIR")"
echo "taskctl: $(link_mode "$TASKCTL"); taskctl-exec: $(link_mode "$SHIM") $SHIM"
echo "tsp $("$TSP" -V 2>&1 | head -1 | awk '{print $3}'):" \
  "$(link_mode "$TSP")${SYSTEMD_RUN:+; systemd-run: $(link_mode "$SYSTEMD_RUN")}"
SUMMARY=()

# --- (a) one whole submit process ------------------------------------------------------------
if has_part a; then
  per=$((A_COUNT / A_ROUNDS))
  echo
  echo "--- (a) one whole process: $A_ROUNDS rounds x $per of each, alternating order"
  : > "$DIR/a.taskctl" ; : > "$DIR/a.tsp"
  run_a_taskctl() {
    "$TIMER" --count "$per" --label taskctl -- "$TASKCTL" submit -- /bin/true >> "$DIR/a.raw"
  }
  # Diagnostic, not a target: the same process into the held queue, where nothing runs, so the
  # daemon only stores and replies. The gap to run_a_taskctl is what running the earlier
  # submits costs the daemon while it should be answering the next one.
  run_a_held() {
    "$TIMER" --count "$per" --label held -- "$TASKCTL" submit --queue held -- /bin/true >> "$DIR/a.raw"
  }
  run_a_tsp() { "$TIMER" --count "$per" --label tsp -- "$TSP" /bin/true >> "$DIR/a.raw"; }
  : > "$DIR/a.raw"
  start_daemon
  # Bounded by itself too, should the cancel in stop_daemon never come.
  BLOCKER=$("$TASKCTL" submit --queue held -- /bin/sleep "$TOTAL_TIMEOUT")
  for round in $(seq "$A_ROUNDS"); do
    start_tsp
    if [ "$round" = 1 ]; then  # warm-up, not counted: page cache, first connections
      "$TIMER" --count 20 -- "$TASKCTL" submit -- /bin/true > /dev/null
      "$TIMER" --count 20 -- "$TSP" /bin/true > /dev/null
    fi
    case $((round % 3)) in
      1) run_a_taskctl; run_a_tsp; run_a_held;;
      2) run_a_tsp; run_a_held; run_a_taskctl;;
      0) run_a_held; run_a_taskctl; run_a_tsp;;
    esac
    stop_tsp
  done
  stop_daemon
  awk '$1 == "taskctl" { print $4 - $3 }' "$DIR/a.raw" > "$DIR/a.taskctl"
  awk '$1 == "tsp" { print $4 - $3 }' "$DIR/a.raw" > "$DIR/a.tsp"
  awk '$1 == "held" { print $4 - $3 }' "$DIR/a.raw" > "$DIR/a.held"
  read -r t50 t99 < <(pcts "$DIR/a.taskctl")
  read -r h50 h99 < <(pcts "$DIR/a.held")
  read -r s50 s99 < <(pcts "$DIR/a.tsp")
  printf '%-34s %6s %8s %8s\n' "one whole process" "n" "p50 us" "p99 us"
  printf '%-34s %6s %8s %8s\n' "taskctl submit -- true" "$(wc -l < "$DIR/a.taskctl")" "$t50" "$t99"
  printf '%-34s %6s %8s %8s\n' "tsp true" "$(wc -l < "$DIR/a.tsp")" "$s50" "$s99"
  printf '%-34s %6s %8s %8s\n' "(taskctl submit, queue held)" "$(wc -l < "$DIR/a.held")" "$h50" "$h99"
  r50=$(ratio "$t50" "$s50") r99=$(ratio "$t99" "$s99")
  echo "taskctl / tsp: p50 ${r50}x, p99 ${r99}x; held / tsp: p50 $(ratio "$h50" "$s50")x"
  SUMMARY+=("(a) taskctl submit p50 ${t50} us p99 ${t99} us; tsp true p50 ${s50} us p99 ${s99} us;"
            "    ratio p50 ${r50}x p99 ${r99}x (into a held queue: p50 ${h50} us, $(ratio "$h50" "$s50")x);"
            "    target p50 below tsp's: $(awk -v t="$t50" -v s="$s50" 'BEGIN { print (t < s ? "met" : "NOT met") }')")
fi

# --- (b) 1000 x true through the CLI, first submit to all done -------------------------------
if has_part b; then
  echo
  label=b; [ "$RUNNER" = scope ] && label="c (b with a scope per execution)"
  echo "--- ($label): $B_ROUNDS rounds of $B_COUNT x true, first submit to all done, alternating order"
  run_b_taskctl() {
    start_daemon
    local c0 c1 p0 p1 t0 t1
    c0=$(cpu_ticks "$DAEMON_PID"); p0=$(cpu_ticks 1)
    t0=$(now_us)
    for ((i = 0; i < B_COUNT; i++)); do "$TASKCTL" submit -- /bin/true; done > "$DIR/b.ids"
    # shellcheck disable=SC2046
    "$TASKCTL" wait $(< "$DIR/b.ids") > /dev/null
    t1=$(now_us)
    c1=$(cpu_ticks "$DAEMON_PID"); p1=$(cpu_ticks 1)
    [ "$(wc -l < "$DIR/b.ids")" = "$B_COUNT" ] || { echo "$0: lost submits" >&2; exit 1; }
    # Every one must have run and exited 0: `wait` exits like the first to fail.
    B_TASKCTL+=($(((t1 - t0) / 1000)))
    B_TASKCTL_CPU+=($(((c1 - c0) * TICK_US / B_COUNT)))
    B_TASKCTL_PID1+=($(((p1 - p0) * TICK_US / B_COUNT)))
    echo "round $round taskctl:     $(((t1 - t0) / 1000)) ms (taskctld CPU $(((c1 - c0) * TICK_US / B_COUNT)) us/task${SYSTEMD_RUN:+, PID 1 CPU $(((p1 - p0) * TICK_US / B_COUNT)) us/task})"
    stop_daemon
  }
  run_b_tsp() {
    start_tsp
    local t0 t1 last left p0 p1
    p0=$(cpu_ticks 1)
    t0=$(now_us)
    for ((i = 0; i < B_COUNT; i++)); do "$TSP" /bin/true; done > "$DIR/b.ids"
    last=$(tail -n 1 "$DIR/b.ids")
    "$TSP" -w "$last" > /dev/null
    # The one before the last may still run in the other slot: wait until none is unfinished.
    for _ in $(seq 1000); do
      left=$("$TSP" -l | awk 'NR > 1 && $2 != "finished"' | wc -l)
      [ "$left" = 0 ] && break
      sleep 0.005
    done
    t1=$(now_us)
    p1=$(cpu_ticks 1)
    [ "$left" = 0 ] || { echo "$0: tsp still has $left unfinished jobs" >&2; exit 1; }
    local done_ok
    done_ok=$("$TSP" -l | awk 'NR > 1 && $2 == "finished" && $4 == 0' | wc -l)
    [ "$done_ok" = "$B_COUNT" ] ||
      { echo "$0: tsp finished $done_ok of $B_COUNT jobs with status 0" >&2; exit 1; }
    B_TSP+=($(((t1 - t0) / 1000)))
    echo "round $round tsp -S 2:    $(((t1 - t0) / 1000)) ms${SYSTEMD_RUN:+ (PID 1 CPU $(((p1 - p0) * TICK_US / B_COUNT)) us/task)}"
    stop_tsp
  }
  run_b_systemd_run() {
    local t0 t1 p0 p1
    p0=$(cpu_ticks 1)
    t0=$(now_us)
    for ((i = 0; i < B_COUNT; i++)); do "$SYSTEMD_RUN" --scope -q /bin/true; done
    t1=$(now_us)
    p1=$(cpu_ticks 1)
    B_SDRUN+=($(((t1 - t0) / 1000)))
    B_SDRUN_PID1+=($(((p1 - p0) * TICK_US / B_COUNT)))
    echo "round $round systemd-run: $(((t1 - t0) / 1000)) ms (PID 1 CPU $(((p1 - p0) * TICK_US / B_COUNT)) us/task)"
  }
  B_TASKCTL=() B_TASKCTL_CPU=() B_TASKCTL_PID1=() B_TSP=() B_SDRUN=() B_SDRUN_PID1=()
  for round in $(seq "$B_ROUNDS"); do
    case $((round % 3)) in
      1) run_b_taskctl; run_b_tsp; [ -z "$SYSTEMD_RUN" ] || run_b_systemd_run;;
      2) run_b_tsp; [ -z "$SYSTEMD_RUN" ] || run_b_systemd_run; run_b_taskctl;;
      0) [ -z "$SYSTEMD_RUN" ] || run_b_systemd_run; run_b_taskctl; run_b_tsp;;
    esac
  done
  bt=$(median "${B_TASKCTL[@]}") bs=$(median "${B_TSP[@]}")
  echo "median: taskctl $bt ms ($(awk -v t="$bt" -v n="$B_COUNT" 'BEGIN { printf "%.0f", n * 1000 / t }')/s," \
    "taskctld CPU $(median "${B_TASKCTL_CPU[@]}") us/task); tsp -S 2 $bs ms" \
    "($(awk -v t="$bs" -v n="$B_COUNT" 'BEGIN { printf "%.0f", n * 1000 / t }')/s); taskctl / tsp $(ratio "$bt" "$bs")x"
  if [ -z "$SYSTEMD_RUN" ]; then
    SUMMARY+=("(b) $B_COUNT x true, direct runner: taskctl $bt ms, tsp -S 2 $bs ms, ratio $(ratio "$bt" "$bs")x;"
              "    target <= tsp: $(awk -v t="$bt" -v s="$bs" 'BEGIN { print (t <= s ? "met" : "NOT met") }')")
  else
    bd=$(median "${B_SDRUN[@]}")
    echo "median: systemd-run --scope loop $bd ms (PID 1 CPU $(median "${B_SDRUN_PID1[@]}") us/task);" \
      "systemd-run / taskctl $(ratio "$bd" "$bt")x; taskctl PID 1 CPU $(median "${B_TASKCTL_PID1[@]}") us/task"
    SUMMARY+=("(c) $B_COUNT x true, a scope each: taskctl $bt ms, tsp -S 2 $bs ms, systemd-run --scope loop $bd ms;"
              "    taskctl / tsp $(ratio "$bt" "$bs")x (target <= 3x: $(awk -v t="$bt" -v s="$bs" 'BEGIN { print (t <= 3 * s ? "met" : "NOT met") }'));"
              "    systemd-run / taskctl $(ratio "$bd" "$bt")x (target >= 3x: $(awk -v t="$bt" -v d="$bd" 'BEGIN { print (d >= 3 * t ? "met" : "NOT met") }'))")
  fi
fi

# --- (d) submit returned -> command running --------------------------------------------------
if has_part d; then
  per=$((D_COUNT / D_ROUNDS))
  echo
  echo "--- (d) submit -> command running, idle daemon: $D_ROUNDS rounds x $per of each, ${D_GAP_MS} ms apart"
  : > "$DIR/d.raw"
  run_d_taskctl() {
    "$TIMER" --count "$per" --label taskctl --stamp "$DIR/stamp" --gap-ms "$D_GAP_MS" \
      -- "$TASKCTL" submit -- "$STAMP" "$DIR/stamp" >> "$DIR/d.raw"
  }
  run_d_tsp() {
    "$TIMER" --count "$per" --label tsp --stamp "$DIR/stamp" --gap-ms "$D_GAP_MS" \
      -- "$TSP" "$STAMP" "$DIR/stamp" >> "$DIR/d.raw"
  }
  start_daemon
  for round in $(seq "$D_ROUNDS"); do
    start_tsp
    if [ "$round" = 1 ]; then
      "$TIMER" --count 10 --stamp "$DIR/stamp" -- "$TASKCTL" submit -- "$STAMP" "$DIR/stamp" > /dev/null
      "$TIMER" --count 10 --stamp "$DIR/stamp" -- "$TSP" "$STAMP" "$DIR/stamp" > /dev/null
    fi
    if [ $((round % 2)) = 1 ]; then run_d_taskctl; run_d_tsp; else run_d_tsp; run_d_taskctl; fi
    stop_tsp
  done
  stop_daemon
  printf '%-22s %5s %22s %22s %18s\n' "" "n" "returned->running us" "started->running us" "submit process us"
  printf '%-22s %5s %11s %10s %11s %10s %9s %8s\n' "" "" "p50" "p99" "p50" "p99" "p50" "p99"
  for who in taskctl tsp; do
    awk -v w="$who" '$1 == w { print $5 - $4 }' "$DIR/d.raw" > "$DIR/d.$who.ret"
    awk -v w="$who" '$1 == w { print $5 - $3 }' "$DIR/d.raw" > "$DIR/d.$who.start"
    awk -v w="$who" '$1 == w { print $4 - $3 }' "$DIR/d.raw" > "$DIR/d.$who.proc"
    read -r r50 r99 < <(pcts "$DIR/d.$who.ret")
    read -r s50 s99 < <(pcts "$DIR/d.$who.start")
    read -r p50 p99 < <(pcts "$DIR/d.$who.proc")
    name="taskctl ($RUNNER)"; [ "$who" = tsp ] && name="tsp"
    printf '%-22s %5s %11s %10s %11s %10s %9s %8s\n' "$name" "$(wc -l < "$DIR/d.$who.ret")" \
      "$r50" "$r99" "$s50" "$s99" "$p50" "$p99"
    eval "D_${who}_r50=$r50 D_${who}_r99=$r99 D_${who}_s50=$s50"
  done
  target=1000; [ "$RUNNER" = scope ] && target=5000
  # shellcheck disable=SC2154
  SUMMARY+=("(d) submit returned -> running, $RUNNER: taskctl p50 ${D_taskctl_r50} us p99 ${D_taskctl_r99} us;"
            "    tsp p50 ${D_tsp_r50} us p99 ${D_tsp_r99} us; taskctl / tsp p50 $(ratio "$D_taskctl_r50" "$D_tsp_r50")x;"
            "    (submit started -> running: taskctl p50 ${D_taskctl_s50} us, tsp ${D_tsp_s50} us)"
            "    target p50 <= $target us: $(awk -v t="$D_taskctl_r50" -v g="$target" 'BEGIN { print (t <= g ? "met" : "NOT met") }')")
fi

echo
echo "=== summary (runner $RUNNER, load now $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${SUMMARY[@]}"
