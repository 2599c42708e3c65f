#!/bin/bash
# run-bus-bench.sh BUILD_DIR: what publishing on D-Bus costs (issue 6, acceptance 6).
#
# The 1000 x `true` bench (a shell loop of `taskctl submit`, then `taskctl wait` on every id,
# first submit to all done), direct runner, in alternating rounds:
#   none:   taskctld --bus none
#   system: taskctld --bus system on a private dbus-daemon (DBUS_SYSTEM_BUS_ADDRESS), with one
#           subscriber (`gdbus monitor --dest io.taskctl1`) receiving every TaskStateChanged.
# Rounds alternate the order (none first, then system first). Prints each round, the medians,
# and the ratio system/none (target: below 1.10).
# Sizes: COUNT (1000), ROUNDS (10: the spread between rounds is large here). Everything it starts is stopped, also on failure.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 64; }
BIN=$(cd "$1/bin" && pwd)
COUNT=${COUNT:-1000} ROUNDS=${ROUNDS:-10}
WORK=$(mktemp -d /var/tmp/taskctl-bus-bench.XXXXXX)
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$WORK/bus
dbus-daemon --session --address="$DBUS_SYSTEM_BUS_ADDRESS" --nofork --nopidfile >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" status >/dev/null 2>&1 && break; sleep 0.05; done

round() {  # bus -> seconds
  local bus=$1 dir=$WORK/round
  rm -rf "$dir"; mkdir -p "$dir"
  export TASKCTL_SOCKET=$dir/sock
  printf '[queues.default]\nconcurrency = 2\n' >"$dir/c.toml"
  "$BIN/taskctld" --config "$dir/c.toml" --state-dir "$dir/state" --socket "$TASKCTL_SOCKET" \
      --runner direct --bus "$bus" >"$dir/log" 2>&1 &
  local daemon=$! monitor=
  for _ in $(seq 200); do "$BIN/taskctl" list >/dev/null 2>&1 && break; sleep 0.05; done
  if [ "$bus" = system ]; then
    # dbus-monitor: a light subscriber (gdbus monitor's own CPU would be most of the cost).
    timeout 600 dbus-monitor --address "$DBUS_SYSTEM_BUS_ADDRESS" \
        "type='signal',interface='io.taskctl1.Manager',member='TaskStateChanged'" >"$dir/mon" &
    monitor=$!
    sleep 0.3
  fi
  local start end ids=()
  start=$(date +%s.%N)
  for _ in $(seq "$COUNT"); do ids+=("$("$BIN/taskctl" submit -- true)"); done
  "$BIN/taskctl" wait "${ids[@]}"
  end=$(date +%s.%N)
  if [ -n "$monitor" ]; then
    # The subscriber really received them all (4 transitions a task).
    for _ in $(seq 200); do [ "$(grep -c TaskStateChanged "$dir/mon")" -ge $((COUNT * 4)) ] && break; sleep 0.05; done
    local got; got=$(grep -c TaskStateChanged "$dir/mon")
    [ "$got" -ge $((COUNT * 4)) ] || { echo "subscriber got $got of $((COUNT * 4)) signals" >&2; exit 1; }
    kill "$monitor"
  fi
  # The daemon's own CPU (user + system), steadier than wall time on a busy machine.
  local ticks; ticks=$(awk '{print $14 + $15}' "/proc/$daemon/stat")
  kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true
  python3 -c 'import os, sys
hz = os.sysconf("SC_CLK_TCK"); wall = float(sys.argv[2]) - float(sys.argv[1])
print(f"{wall:.3f} {int(sys.argv[3]) / hz:.2f}")' "$start" "$end" "$ticks"
}

none=() system=()
for r in $(seq "$ROUNDS"); do
  # ABBA: this machine slows down over a run (ext4 without a journal scans
  # more recently deleted inodes on each create), so a fixed order would
  # charge the drift to whichever mode always goes second.
  if [ $((r % 2)) -eq 1 ]; then n=$(round none); s=$(round system)
  else s=$(round system); n=$(round none); fi
  none+=("$n"); system+=("$s")
  echo "round $r: none ${n% *} s (daemon CPU ${n#* } s), system+subscriber ${s% *} s (daemon CPU ${s#* } s)"
done
python3 - "${none[*]}" "${system[*]}" <<'PY'
import statistics, sys
def pairs(text):
    v = [float(x) for x in text.split()]
    return v[0::2], v[1::2]
nw, nc = pairs(sys.argv[1]); sw, sc = pairs(sys.argv[2])
a, b = statistics.median(nw), statistics.median(sw)
c, d = statistics.median(nc), statistics.median(sc)
print(f"median wall: --bus none {a:.3f} s, --bus system + 1 subscriber {b:.3f} s, ratio {b / a:.3f}")
print(f"median daemon CPU: --bus none {c:.2f} s, --bus system + 1 subscriber {d:.2f} s, ratio {d / c:.3f}")
PY
