#!/bin/bash
# Issue 12 point 5 under the scope runner: a lost attempt never runs on beside
# its retry. Each task's first attempt leaves 3 grandchildren that ignore
# SIGTERM and would write a marker 5 s later: one in the command's process
# group, one in a group of its own, one in a session of its own. Its shim is
# killed (kill -9), once while the daemon runs and once together with the
# daemon (systemd restarts it). Every first attempt is then `lost` and retried
# (--retry-on lost); when the retry starts, no grandchild of the first attempt
# is alive; none survives, and no first attempt's work ever finishes.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 10\n' >/etc/taskctl/taskctld.toml
up; systemctl reload taskctld.service; sleep 0.5
D=$WORK/marks; mkdir "$D"; chmod 777 "$D"
TOKEN=lost-gc-$$

# The grandchildren, by recorded pid, if the test fails with some alive (the
# token in their command line tells them from a reused pid); zombies are dead.
alive() {
  tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q "$TOKEN" &&
    [ "$(cut -d')' -f2 2>/dev/null </proc/$1/stat | cut -d' ' -f2)" != Z ]
}
kill_grandchildren() {
  local f pid
  for f in "$D"/*.pids; do
    [ -e "$f" ] || continue
    while read -r pid; do if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi; done <"$f"
  done
}
trap 'kill_grandchildren; rm -rf "$WORK"' EXIT

# Attempt 1 starts its grandchildren, says so and waits; attempt 2 counts
# those still alive as it starts, and succeeds.
script='d=$1; token=$2; id=$TASKCTL_TASK_ID
late="trap \"\" TERM; sleep 5; date +%s.%N >\"\$1\""
if [ "$TASKCTL_ATTEMPT" = 1 ]; then
  sh -c "$late" "$token" "$d/$id-1.done-1" & echo $! >>"$d/$id-1.pids"
  python3 -c "import os, sys; os.setpgid(0, 0); os.execvp(sys.argv[1], sys.argv[1:])" \
    sh -c "$late" "$token" "$d/$id-1.done-2" & echo $! >>"$d/$id-1.pids"
  setsid sh -c "$late" "$token" "$d/$id-1.done-3" & echo $! >>"$d/$id-1.pids"
  : >"$d/$id-1.ready"
  sleep 1000
else
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
wait_ready() {
  local id
  for id in "$@"; do
    until_ok 20 test -e "$D/$id-1.ready" || fail "task $id's first attempt did not start"
    until_ok 5 test "$(wc -l <"$D/$id-1.pids")" = 3 || fail "task $id: $(cat "$D/$id-1.pids")"
  done
}
shim_of() { T status --json "$1" | json attempts 0 shim_pid; }

# 1. Shims killed while the daemon runs.
running=()
for _ in 1 2 3 4 5; do running+=("$(submit)"); done
wait_ready "${running[@]}"
for id in "${running[@]}"; do kill -KILL "$(shim_of "$id")"; done

# 2. Shims killed with the daemon: the restarted daemon finds them gone.
down=()
for _ in 1 2 3 4 5; do down+=("$(submit)"); done
wait_ready "${down[@]}"
shims=(); for id in "${down[@]}"; do shims+=("$(shim_of "$id")"); done
kill -KILL "${shims[@]}" "$(main_pid)"
sleep 0.5; up

ids=("${running[@]}" "${down[@]}")
T wait "${ids[@]}" || fail "a retried task did not succeed"
beside=0
for id in "${ids[@]}"; do
  [ "$(T status --json "$id" | json attempts 0 reason)" = lost ] ||
    fail "task $id's first attempt is not lost: $(T status --json "$id")"
  [ -e "$D/$id-2.alive" ] || fail "task $id's second attempt did not run"
  beside=$((beside + $(cat "$D/$id-2.alive")))
done
survivors=0
for f in "$D"/*.pids; do
  while read -r pid; do if alive "$pid"; then survivors=$((survivors + 1)); fi; done <"$f"
done
sleep 5  # past the moment the grandchildren would have written their markers
late=$(find "$D" -name '*-1.done-*' | wc -l)
echo "grandchildren of lost attempts: $(cat "$D"/*.pids | wc -l); alive when the retry began:" \
     "$beside; surviving: $survivors; work finished: $late"
[ "$beside" = 0 ] || fail "$beside grandchildren of lost attempts ran beside their retry"
[ "$survivors" = 0 ] || fail "$survivors grandchildren of lost attempts kept running"
[ "$late" = 0 ] || fail "$late grandchildren of lost attempts finished their work"
pass
