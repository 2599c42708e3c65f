#!/bin/bash
# run-slurm-bench.sh [--up] [--plain-only] [--latency N] [--throughput M]
#
# Issue 17: taskctl's slurm queue against plain sbatch on the same Slurm cluster, as ratios.
# Two numbers, each measured for plain `sbatch --wrap` and for `taskctl submit --queue cluster`:
#
#   submit->running  N jobs one after the other (default 20): from just before the submit
#                    command to the moment the job's command starts (it writes the time; same
#                    host, same clock); p50 and p90.
#   throughput       M jobs of `true` (default 100) submitted back to back: from the first
#                    submit to the last one seen ended (squeue --states=all says COMPLETED for
#                    plain jobs; `taskctl wait` returns for taskctl's), in jobs/s.
#
# Where: on a machine with a Slurm cluster up whose default partition runs jobs, as root, e.g.
# inside the integration suite's container (which sees this checkout at the same path, its
# root being an overlay of this machine's):
#
#   tests/integration/container.sh --shell BUILD_DIR
#   # then, in the container's shell:
#   bash /PATH/TO/CHECKOUT/bench/run-slurm-bench.sh --up
#
# --up brings the test cluster of tests/shared-scenarios/slurm.sh up first (and down at the
# end); without it the cluster must be running already. The taskctl side starts its own
# taskctld (from PATH, or TASKCTL_BENCH_BIN=DIR holding taskctld and taskctl; its taskctl-exec
# is the one compiled into it, which must be installed on the nodes: the container's is) with a
# fresh state dir and a config of one queue `cluster`, runner "slurm", on partition `debug`,
# run files under a shared directory of this run. --plain-only skips it. Everything made here is
# removed at the end, also on failure; the whole run is bounded by TASKCTL_BENCH_TIMEOUT seconds
# (default 900).
set -euo pipefail

usage() { sed -n 2,32p "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }
TOTAL_TIMEOUT=${TASKCTL_BENCH_TIMEOUT:-900}
# Re-run under timeout(1) once: whatever hangs, the whole process group is signalled and the
# EXIT trap cleans up.
if [ -z "${TASKCTL_BENCH_BOUNDED:-}" ]; then
  TASKCTL_BENCH_BOUNDED=1 exec timeout "$TOTAL_TIMEOUT" bash "$0" "$@"
fi
UP= PLAIN_ONLY= LAT_N=20 TP_N=100
while [ $# -gt 0 ]; do
  case $1 in
    --up) UP=1; shift;;
    --plain-only) PLAIN_ONLY=1; shift;;
    --latency) [ $# -ge 2 ] || usage; LAT_N=$2; shift 2;;
    --throughput) [ $# -ge 2 ] || usage; TP_N=$2; shift 2;;
    -h|--help) usage;;
    *) usage;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 64; }

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
SHARED=$HERE/../tests/shared-scenarios
# The harness's helpers (fail, until_ok, $WORK removed at exit) and the cluster's.
. "$SHARED/common.sh"
. "$SHARED/slurm.sh"
DIR=$WORK
DAEMON_PID=
cleanup() {
  [ -z "$DAEMON_PID" ] || stop_process "$DAEMON_PID"
  slurm_down
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

if [ -n "$UP" ]; then
  slurm_up
  trap cleanup EXIT   # slurm_up sets its own; ours covers the daemon too
fi
timeout 10 sinfo -h >/dev/null 2>&1 || fail "no Slurm cluster answers here (sinfo); --up starts the test one"
PARTITION=$(timeout 10 sinfo -h -o '%P' | sed -n 's/\*$//p' | head -n 1)
[ -n "$PARTITION" ] || fail "the cluster has no default partition"
echo "cluster: $(timeout 10 sinfo -h -N -o '%N %T %c CPUs %m MB' | paste -sd';'); partition $PARTITION;" \
     "$(nproc) CPUs here"

now_ns() { date +%s%N; }
# pct P FILE: the P-th percentile (nearest rank) of the numbers in FILE, one a line.
pct() { sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; print v[i] }'; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.0f", ns / 1e6 }'; }
# wait_file FILE SECONDS: until FILE exists (and is not empty); false after SECONDS.
wait_file() { local deadline=$((SECONDS + $2)); until [ -s "$1" ]; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.01; done; }

mkdir -p "$DIR/plain" "$DIR/taskctl"
chmod 755 "$DIR"; chmod 1777 "$DIR/plain" "$DIR/taskctl"

# latency SIDE SUBMIT...: LAT_N jobs, one at a time; SUBMIT... is run with the job's command
# appended as one shell string. The per-job latencies in ns go to $DIR/SIDE.lat.
latency() {
  local side=$1 i t0 start; shift
  : >"$DIR/$side.lat"
  for i in $(seq "$LAT_N"); do
    t0=$(now_ns)
    "$@" "date +%s%N >$DIR/$side/lat-$i.tmp && mv $DIR/$side/lat-$i.tmp $DIR/$side/lat-$i" >/dev/null ||
      fail "$side: submit $i failed"
    wait_file "$DIR/$side/lat-$i" 120 || fail "$side: job $i did not start in 120 s"
    start=$(cat "$DIR/$side/lat-$i")
    echo $((start - t0)) >>"$DIR/$side.lat"
  done
}

plain_submit() { sbatch --parsable --output=/dev/null --chdir=/tmp --wrap "$1"; }
plain_throughput() {
  local i ids=() t0 left deadline
  t0=$(now_ns)
  local id
  for i in $(seq "$TP_N"); do
    id=$(plain_submit true) || fail "plain: sbatch $i failed"
    [[ $id =~ ^[0-9]+$ ]] || fail "plain: sbatch $i said '$id', not a job id"
    ids+=("$id")
  done
  local list
  list=$(IFS=,; echo "${ids[*]}")
  deadline=$((SECONDS + 600))
  while :; do
    left=$(timeout 20 squeue -h --states=all --jobs="$list" -o %T | grep -vc '^COMPLETED$' || true)
    [ "$left" = 0 ] && break
    [ $SECONDS -lt $deadline ] || fail "plain: $left of $TP_N jobs not COMPLETED after 600 s"
    sleep 0.1
  done
  echo $(($(now_ns) - t0)) >"$DIR/plain.tp"
}

# --- the taskctl side: its own daemon, one queue on the cluster ----------------------------------
BIN=${TASKCTL_BENCH_BIN:-}
taskctld_exe() { if [ -n "$BIN" ]; then echo "$BIN/taskctld"; else command -v taskctld; fi; }
taskctl_exe() { if [ -n "$BIN" ]; then echo "$BIN/taskctl"; else command -v taskctl; fi; }
TC() { TASKCTL_SOCKET=$DIR/sock "$(taskctl_exe)" "$@"; }
taskctl_up() {
  [ -x "$(taskctld_exe)" ] && [ -x "$(taskctl_exe)" ] ||
    fail "no taskctld/taskctl (PATH, or TASKCTL_BENCH_BIN=DIR)"
  # The run files and logs of each attempt live under the shared directory (on every node).
  mkdir -p "$DIR/shared"
  cat >"$DIR/config.toml" <<EOF
[queues.cluster]
runner = "slurm"
concurrency = $TP_N

[queues.cluster.slurm]
partition = "$PARTITION"
shared_dir = "$DIR/shared"
EOF
  "$(taskctld_exe)" --state-dir "$DIR/state" --socket "$DIR/sock" --config "$DIR/config.toml" \
    --bus none 2>"$DIR/taskctld.log" &
  DAEMON_PID=$!
  for _ in $(seq 100); do [ -S "$DIR/sock" ] && break; kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.05; done
  if [ ! -S "$DIR/sock" ]; then
    cat "$DIR/taskctld.log" >&2
    fail "taskctld did not start with a queue of runner \"slurm\" (see its log above)"
  fi
}
taskctl_submit() { TC submit --queue cluster -- sh -c "$1"; }
taskctl_throughput() {
  local i ids=() t0
  t0=$(now_ns)
  local id
  for i in $(seq "$TP_N"); do
    id=$(TC submit --queue cluster -- true) || fail "taskctl: submit $i failed"
    ids+=("$id")
  done
  for i in "${ids[@]}"; do
    TC wait "$i" >/dev/null || fail "taskctl: task $i did not end with 0 ($(TC status "$i" 2>&1 | head -n 3))"
  done
  echo $(($(now_ns) - t0)) >"$DIR/taskctl.tp"
}

# --- the runs -----------------------------------------------------------------------------------
echo "--- plain sbatch: $LAT_N one at a time, then $TP_N back to back"
latency plain plain_submit
plain_throughput
if [ -z "$PLAIN_ONLY" ]; then
  echo "--- taskctl submit --queue cluster: $LAT_N one at a time, then $TP_N back to back"
  taskctl_up
  latency taskctl taskctl_submit
  taskctl_throughput
fi

echo
printf '%-28s %12s %12s %8s\n' "" "plain sbatch" "taskctl" "ratio"
row() {   # row LABEL PLAIN TASKCTL UNIT
  local r=-
  [ "$3" = - ] || r=$(awk -v a="$2" -v b="$3" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "-" }')
  printf '%-28s %12s %12s %8s\n' "$1" "$2 $4" "$3 $4" "$r"
}
p50p=$(ms "$(pct 50 "$DIR/plain.lat")"); p90p=$(ms "$(pct 90 "$DIR/plain.lat")")
tpp=$(awk -v n="$TP_N" -v ns="$(cat "$DIR/plain.tp")" 'BEGIN { printf "%.1f", n / (ns / 1e9) }')
p50t=- p90t=- tpt=-
if [ -z "$PLAIN_ONLY" ]; then
  p50t=$(ms "$(pct 50 "$DIR/taskctl.lat")"); p90t=$(ms "$(pct 90 "$DIR/taskctl.lat")")
  tpt=$(awk -v n="$TP_N" -v ns="$(cat "$DIR/taskctl.tp")" 'BEGIN { printf "%.1f", n / (ns / 1e9) }')
fi
row "submit->running p50 (n=$LAT_N)" "$p50p" "$p50t" ms
row "submit->running p90" "$p90p" "$p90t" ms
row "throughput ($TP_N jobs of true)" "$tpp" "$tpt" "/s"
echo "(latency ratio: taskctl/plain, lower is better; throughput ratio: taskctl/plain, higher is better)"
