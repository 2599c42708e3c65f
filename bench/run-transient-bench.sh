#!/bin/bash
# run-transient-bench.sh [COUNT (300)] [ROUNDS (5)]
#
# What a transient SERVICE per execution would cost PID 1 against the transient SCOPE taskctl
# makes today (issue 13, point 6; docs/design-notes.md "Spawning through PID 1"). Run where
# systemd is PID 1 and the system bus is up, as root: the booted container of tests/integration/
# (bench/README.md says how). In alternating rounds (scopes first, then services first):
#
#   scope:   COUNT x `systemd-run --scope -q /bin/true`: systemd-run makes a scope of itself
#            (StartTransientUnit of a .scope with its own pid), then runs true in it. This is
#            what taskctl's scope runner asks of PID 1 for each execution.
#   service: COUNT x `systemd-run --wait --collect -q /bin/true`: StartTransientUnit of a
#            .service whose ExecStart= PID 1 forks and runs, waited for until it is gone. This
#            is what spawning the shim through PID 1 would ask for each execution.
#
# Both are one new bus client per start, so the difference is the unit type. For each loop: wall
# time per start, and PID 1's CPU per start (/proc/1/stat utime + stime, read after the loop's
# units are gone, so the stops are counted). Prints each round, then the medians and the ratio
# service/scope of both. Everything is bounded (TASKCTL_BENCH_TIMEOUT, 900 s); the only units it
# makes are systemd-run's run-*.scope / run-*.service, which end with their `true`.
set -euo pipefail
COUNT=${1:-300}
ROUNDS=${2:-5}
TOTAL_TIMEOUT=${TASKCTL_BENCH_TIMEOUT:-900}
if [ -z "${TASKCTL_BENCH_BOUNDED:-}" ]; then
  TASKCTL_BENCH_BOUNDED=1 exec timeout "$TOTAL_TIMEOUT" "$0" "$@"
fi
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 77; }
[ "$(cat /proc/1/comm)" = systemd ] ||
  { echo "$0: needs systemd as PID 1 (the booted container of tests/integration/)" >&2; exit 69; }
SYSTEMD_RUN=$(command -v systemd-run) || { echo "$0: systemd-run is missing" >&2; exit 69; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

pid1_ticks() { awk '{ print $14 + $15 }' /proc/1/stat; }
now_us() { echo $(($(date +%s%N) / 1000)); }
# Until none of systemd-run's units is left (bounded: 10 s).
settle() {
  for _ in $(seq 100); do
    [ -z "$(systemctl list-units --all --no-legend --plain 'run-*.scope' 'run-*.service' 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  echo "note: systemd-run's units still listed 10 s after the loop" >&2
}

SCOPE_US=() SCOPE_PID1=() SERVICE_US=() SERVICE_PID1=()
run_loop() {  # KIND
  local t0 t1 c0 c1 i
  settle
  c0=$(pid1_ticks); t0=$(now_us)
  if [ "$1" = scope ]; then
    for ((i = 0; i < COUNT; i++)); do "$SYSTEMD_RUN" --scope -q /bin/true; done
  else
    for ((i = 0; i < COUNT; i++)); do "$SYSTEMD_RUN" --wait --collect -q /bin/true; done
  fi
  t1=$(now_us)
  settle
  c1=$(pid1_ticks)
  local per=$(((t1 - t0) / COUNT)) cpu=$(((c1 - c0) * TICK_US / COUNT))
  printf 'round %s %-7s %6d us/start wall, PID 1 CPU %5d us/start\n' "$round" "$1" "$per" "$cpu"
  if [ "$1" = scope ]; then SCOPE_US+=("$per"); SCOPE_PID1+=("$cpu")
  else SERVICE_US+=("$per"); SERVICE_PID1+=("$cpu"); fi
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "$COUNT starts per loop, $ROUNDS rounds; $(systemctl --version | head -n 1), kernel $(uname -r)"
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then run_loop scope; run_loop service; else run_loop service; run_loop scope; fi
done
sw=$(median "${SCOPE_US[@]}") sc=$(median "${SCOPE_PID1[@]}")
vw=$(median "${SERVICE_US[@]}") vc=$(median "${SERVICE_PID1[@]}")
echo "median scope:   $sw us/start wall, PID 1 CPU $sc us/start"
echo "median service: $vw us/start wall, PID 1 CPU $vc us/start"
awk -v sw="$sw" -v sc="$sc" -v vw="$vw" -v vc="$vc" \
  'BEGIN { printf "service / scope: wall %.2fx, PID 1 CPU %.2fx\n", vw / sw, (sc > 0 ? vc / sc : 0) }'
