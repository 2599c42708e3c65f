#!/bin/bash
# A lost attempt never runs on beside its retry (DESIGN 6, direct runner):
# each task's first attempt leaves 4 grandchildren (2 in the command's
# process group, 2 in groups of their own) that would write a marker 5 s
# later; its shim is killed (kill -9), once while the daemon runs and once
# while it is down. Every attempt is then `lost` and retried (--retry-on
# lost); when the retry starts, no grandchild of the first attempt is alive;
# none survives, and no first attempt's work finishes (on be2d92e all 40
# finished after their retry began).
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 10\n' >"$CONFIG"
D=$WORK/marks; mkdir "$D"; chmod 777 "$D"
TOKEN=lost-gc-$$

# The grandchildren, by recorded pid, if the test fails with some alive
# (the token in their command line tells them from a reused pid).
alive() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q "$TOKEN"; }
kill_grandchildren() {
  local f pid
  for f in "$D"/*.pids; do
    [ -e "$f" ] || continue
    while read -r pid; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done <"$f"
  done
  return 0
}
trap 'rc=$?; kill_grandchildren; (exit $rc); cleanup' EXIT

# Attempt 1 starts its grandchildren, says so and waits; attempt 2 notes
# when it began and how many of them are alive then, and succeeds.
script='d=$1; token=$2; id=$TASKCTL_TASK_ID
if [ "$TASKCTL_ATTEMPT" = 1 ]; then
  for i in 1 2; do
    sh -c "sleep 5; date +%s.%N >\"\$1\"" "$token" "$d/$id-1.done-$i" & echo $! >>"$d/$id-1.pids"
  done
  for i in 3 4; do
    python3 -c "import os, sys; os.setpgid(0, 0); os.execvp(sys.argv[1], sys.argv[1:])" \
      sh -c "sleep 5; date +%s.%N >\"\$1\"" "$token" "$d/$id-1.done-$i" & echo $! >>"$d/$id-1.pids"
  done
  : >"$d/$id-1.ready"
  sleep 1000
else
  date +%s.%N >"$d/$id-2.start"
  n=0
  while read -r pid; do
    if tr "\0" " " 2>/dev/null <"/proc/$pid/cmdline" | grep -q "$token" &&
       [ "$(cut -d")" -f2 </proc/$pid/stat 2>/dev/null | cut -d" " -f2)" != Z ]; then
      n=$((n + 1))
    fi
  done <"$d/$id-1.pids"
  echo $n >"$d/$id-2.alive"
fi'
submit() {
  T submit --retries 1 --retry-on lost --backoff 100ms -- sh -c "$script" task "$D" "$TOKEN"
}
# Until each first attempt has its 4 grandchildren, 2 of them leading
# groups of their own (as the test means them to be).
wait_ready() {
  local id pid own
  for id in "$@"; do
    for _ in $(seq 200); do
      own=0
      if [ -e "$D/$id-1.ready" ]; then
        while read -r pid; do
          if [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ]; then own=$((own + 1)); fi
        done <"$D/$id-1.pids"
      fi
      [ $own = 2 ] && break; sleep 0.05
    done
    [ $own = 2 ] || fail "task $id's first attempt did not start its grandchildren"
  done
}
shim_of() { T status --json "$1" | json attempts 0 shim_pid; }

start_daemon
# 1. Shims killed while the daemon runs: it is their parent and sees them go.
running=()
for _ in $(seq 6); do running+=("$(submit)"); done
wait_ready "${running[@]}"
for id in "${running[@]}"; do kill -KILL "$(shim_of "$id")"; done

# 2. Shims killed while the daemon is down: recovery finds them gone.
down=()
for _ in $(seq 4); do down+=("$(submit)"); done
wait_ready "${down[@]}"
shims=(); for id in "${down[@]}"; do shims+=("$(shim_of "$id")"); done
crash_daemon
kill -KILL "${shims[@]}"
start_daemon

ids=("${running[@]}" "${down[@]}")
beside=0
T wait "${ids[@]}" || fail "a retried task did not succeed"
for id in "${ids[@]}"; do
  [ "$(T status --json "$id" | json attempts 0 reason)" = lost ] ||
    fail "task $id's first attempt is not lost: $(T status --json "$id")"
  [ -e "$D/$id-2.start" ] || fail "task $id's second attempt did not run"
  beside=$((beside + $(cat "$D/$id-2.alive")))
done

survivors=0
for f in "$D"/*.pids; do
  while read -r pid; do if alive "$pid"; then survivors=$((survivors + 1)); fi; done <"$f"
done
# Past the moment the grandchildren would have written their markers.
sleep 5
late=$(find "$D" -name '*-1.done-*' | wc -l)
echo "grandchildren of lost attempts: $(cat "$D"/*.pids | wc -l); alive when the retry began:" \
     "$beside; surviving: $survivors; work finished: $late"
for f in "$D"/*-1.done-*; do
  [ -e "$f" ] || continue
  id=$(basename "$f"); id=${id%%-*}
  started=$(cat "$D/$id-2.start"); done_at=$(cat "$f")
  if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' \
      "$done_at" "$started"; then
    echo "task $id: attempt 1's work finished after attempt 2 began" >&2
  fi
done
[ "$beside" = 0 ] || fail "$beside grandchildren of lost attempts ran beside their retry"
[ "$survivors" = 0 ] || fail "$survivors grandchildren of lost attempts kept running"
[ "$late" = 0 ] || fail "$late grandchildren of lost attempts finished their work"
pass
