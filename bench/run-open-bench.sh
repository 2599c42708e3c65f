#!/bin/bash
# DESIGN 11: "1 M stored tasks, queued or finished, open in < 1 s and cost < 64 MiB RSS".
# Fills a store with N queued tasks (queue `default` paused: none starts) or N finished ones
# (each with its attempt), then times the real taskctld from exec to READY=1 (sd_notify, read
# on our own NOTIFY_SOCKET) and to its socket's first answer, and reads its memory from /proc:
# VmRSS, split into RssAnon (heap and the like) and RssFile (LMDB's map: the file's pages this
# process has mapped), plus the [heap] segment. With queued tasks it then cancels all of them
# (taskctl cancel, --cancel-batch ids a process, 1000 by default, one process after the other)
# and reads the memory again, 2 s later (the daemon trims its heap a second after a drain).
#
#   bench/run-open-bench.sh [--build DIR] [--count N] [--kinds queued,finished] [--rounds R]
#                           [--cancel-batch N] [--daemon-build DIR] [--no-cancel]
#                           [--env small|login]
#
# --daemon-build: run taskctld and taskctl of another build (an older commit, to compare; the
# store is filled by this build's bench-fill-store, the format being the same); with
# --daemon-build DIR, each round runs this build's daemon and DIR's on the same store, in
# alternating order (odd rounds this build first). --env: the tasks' environment
# (bench-fill-store --env: `small`, 22 short variables, the default; `login`, an ssh login
# shell's 25, LS_COLORS included).
#
# Needs a build (Release or RelWithDebInfo) with the bench targets (TASKCTL_BENCH, default on).
# The store of 1 M tasks takes ~4 GB under /tmp (removed at the end) and ~25 s to fill.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build
COUNT=1000000
KINDS=queued,finished
ROUNDS=2
CANCEL_BATCH=1000
DAEMON_BUILD=
CANCEL=1
ENV_KIND=small
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --kinds) KINDS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --cancel-batch) CANCEL_BATCH=$2; shift 2 ;;
    --daemon-build) DAEMON_BUILD=$2; shift 2 ;;
    --no-cancel) CANCEL=; shift ;;
    --env) ENV_KIND=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--count N] [--kinds queued,finished] [--rounds R] [--cancel-batch N] [--daemon-build DIR] [--no-cancel] [--env small|login]" >&2; exit 64 ;;
  esac
done
BIN=$(cd "$BUILD/bin" && pwd)
FILL=$BIN/bench-fill-store
BINS=$BIN
[ -n "$DAEMON_BUILD" ] && BINS="$BIN $(cd "$DAEMON_BUILD/bin" && pwd)"
. "$HERE/lib.sh"

WORK=$(mktemp -d /tmp/taskctl-open-bench.XXXXXX)
DAEMON_PID=
cleanup() {
  [ -n "$DAEMON_PID" ] && stop_process "$DAEMON_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT

# No count limit on finished tasks: the store keeps all N (the default keeps 10,000).
cat >"$WORK/taskctld.toml" <<TOML
[retention]
max_tasks = 0
max_age = "30d"
TOML
export TASKCTL_SOCKET=$WORK/taskctld.sock

# mem PID LABEL: one line of memory figures, in MiB.
mem() {
  local pid=$1 label=$2
  python3 - "$pid" "$label" <<'PY'
import sys
pid, label = sys.argv[1], sys.argv[2]
status = {}
for line in open(f"/proc/{pid}/status"):
    k, _, v = line.partition(":")
    status[k] = v.split()
heap = 0
lines = open(f"/proc/{pid}/smaps").read().splitlines()
for i, line in enumerate(lines):
    if line.endswith("[heap]"):
        for l in lines[i + 1:]:
            if l.startswith("Rss:"):
                heap = int(l.split()[1])
                break
mib = lambda kb: int(kb) / 1024
print(f"  {label}: VmRSS {mib(status['VmRSS'][0]):.1f} MiB = RssAnon {mib(status['RssAnon'][0]):.1f}"
      f" + RssFile {mib(status['RssFile'][0]):.1f} (+ RssShmem {mib(status['RssShmem'][0]):.1f});"
      f" [heap] {mib(heap):.1f} MiB; VmHWM {mib(status['VmHWM'][0]):.1f} MiB")
PY
}

# start BIN: BIN's taskctld on $WORK/state, timed from exec to READY=1 and to the socket's first
# answer; also the CPU time it took to READY=1.
start() {
  BIN=$1
  rm -f "$TASKCTL_SOCKET"
  DAEMON_PID=$(python3 - "$BIN/taskctld" "$WORK" <<'PY'
import os, socket, subprocess, sys, time
daemon, work = sys.argv[1], sys.argv[2]
path = f"{work}/sd-notify"  # {work}/notify is the daemon's (beside its socket)
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
env = dict(os.environ, NOTIFY_SOCKET=path)
t0 = time.monotonic()
p = subprocess.Popen([daemon, "--config", f"{work}/taskctld.toml", "--state-dir", f"{work}/state",
                      "--socket", os.environ["TASKCTL_SOCKET"], "--runner", "direct"],
                     env=env, stdout=open(f"{work}/daemon.log", "a"), stderr=subprocess.STDOUT,
                     start_new_session=True)
s.settimeout(120)
while True:
    msg = s.recv(4096).decode()
    if "READY=1" in msg.split("\n"):
        break
t1 = time.monotonic()
stat = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
with open(f"{work}/ready", "w") as f: f.write(f"{t1 - t0:.3f} s (CPU {cpu:.2f} s)\n")
print(p.pid)
PY
)
  local t0 t1
  t0=$(date +%s.%N)
  until "$BIN/taskctl" status 1 >/dev/null 2>&1; do sleep 0.01; done
  t1=$(date +%s.%N)
  echo "  $BIN: READY=1 after $(cat "$WORK/ready"); socket answered $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s after READY (\`taskctl status 1\` round trip included)"
}

for kind in ${KINDS//,/ }; do
  for round in $(seq "$ROUNDS"); do
    echo "== $COUNT $kind tasks, round $round"
    rm -rf "$WORK/state" "$WORK/filled"
    mkdir -p "$WORK/filled"
    chmod 700 "$WORK/filled"
    "$FILL" --store "$WORK/filled/store" --count "$COUNT" --state "$kind" --env "$ENV_KIND" |
      sed 's/^/  /'
    echo "  store file: $(du -h --apparent-size "$WORK/filled/store/data.mdb" | cut -f1)"
    order=$BINS
    [ $((round % 2)) = 0 ] && order=$(echo "$BINS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for bin in $order; do
      # Each daemon opens its own copy: cancelling changes the store.
      rm -rf "$WORK/state"
      if [ "$(echo "$BINS" | wc -w)" = 1 ]; then
        mv "$WORK/filled" "$WORK/state"
      else
        cp -a "$WORK/filled" "$WORK/state"
      fi
      start "$bin"
      mem "$DAEMON_PID" "after the open"
      if [ "$kind" = queued ] && [ -n "$CANCEL" ]; then
        t0=$(date +%s.%N)
        seq 1 "$COUNT" | xargs -n "$CANCEL_BATCH" "$bin/taskctl" cancel >/dev/null
        t1=$(date +%s.%N)
        echo "  cancelled all $COUNT in $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s"
        sleep 2
        mem "$DAEMON_PID" "after cancelling all"
      fi
      stop_process "$DAEMON_PID"
      DAEMON_PID=
    done
  done
done
