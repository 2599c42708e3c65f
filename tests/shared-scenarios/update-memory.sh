#!/bin/bash
# Issue 16, `update --memory` under the scope runner, run by both suites (the container, cgroup
# v1 memory controller; the Debian 12 VM, cgroup v2): a task that holds 40 MB under --memory 64M
# and then allocates 60 MB more is not OOM-killed once `update --memory 256M` raised its scope's
# MemoryMax (read back with `systemctl show`, and from the cgroup's own file); then lowering a
# task's limit below what it holds follows systemd's and the kernel's semantics, which
# docs/cli.md states: on cgroup v2 the kernel reclaims, then OOM-kills (reason oom); on v1 it
# refuses a limit it cannot reclaim to, and the old one stays in force.
. "$(dirname "$0")/lib.sh"
up
grow='import os, sys, time
x = bytearray(40 * 1024 * 1024)
open(sys.argv[1] + "/held", "w").close()
while not os.path.exists(sys.argv[1] + "/go"): time.sleep(0.05)
y = bytearray(60 * 1024 * 1024)
print(len(x) + len(y))'
id=$(T submit --memory 64M -- python3 -c "$grow" "$WORK")
until_ok 60 test -e "$WORK/held" || fail "task $id never held its 40 MB: $(T status "$id")"
scope=taskctl-$id-1.scope
[ "$(prop "$scope" MemoryMax)" = $((64 << 20)) ] || fail "MemoryMax before: $(prop "$scope" MemoryMax)"
out=$(T update "$id" --memory 256M) || fail "update: $out"
[ "$(prop "$scope" MemoryMax)" = $((256 << 20)) ] ||
  fail "systemctl show $scope: MemoryMax=$(prop "$scope" MemoryMax), want $((256 << 20))"
# The kernel's own file, wherever this hierarchy keeps it.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  file=/sys/fs/cgroup/taskctl.slice/$scope/memory.max
else
  file=/sys/fs/cgroup/memory/taskctl.slice/$scope/memory.limit_in_bytes
fi
[ "$(cat "$file")" = $((256 << 20)) ] || fail "$file: $(cat "$file" 2>&1)"
touch "$WORK/go"
rc=0; T wait "$id" || rc=$?
[ $rc = 0 ] || fail "task $id ended $rc after update --memory 256M: $(T status "$id")"
T status --json "$id" >"$WORK/s.json"
python3 - "$WORK/s.json" <<'PY' || fail "status: $(cat "$WORK/s.json")"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["limits"]["memory_max_bytes"] == 256 << 20, t["limits"]
assert t["attempts"][0]["memory_max_bytes"] == 256 << 20, t["attempts"][0]
assert t["limits_updated_by"] == 0 and t["limits_updated_at"], t
PY

# Lowering below what a task holds (100 MB, nothing to reclaim: no swap under a limit).
hold='import sys, time
x = bytearray(100 * 1024 * 1024)
for i in range(0, len(x), 4096): x[i] = 1
open(sys.argv[1] + "/held2", "w").close()
time.sleep(20)'
id2=$(T submit --memory 256M -- python3 -c "$hold" "$WORK")
until_ok 60 test -e "$WORK/held2" || fail "task $id2 never held its 100 MB: $(T status "$id2")"
T update "$id2" --memory 32M >/dev/null || fail "update --memory 32M refused"
after=$(prop "taskctl-$id2-1.scope" MemoryMax)
if [ "$after" != $((32 << 20)) ]; then
  # cgroup v2 OOM-kills at once, so the scope may be gone before systemctl shows it (a unit
  # that is gone reads as the defaults, "infinity"); the wait below proves the kill came from
  # the new limit (the task held 100 MB of its 256M).
  { [ -f /sys/fs/cgroup/cgroup.controllers ] && ! is_active "taskctl-$id2-1.scope"; } ||
    fail "MemoryMax after lowering: $after"
fi
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  kernel=$(cat "/sys/fs/cgroup/taskctl.slice/taskctl-$id2-1.scope/memory.max" 2>/dev/null || echo gone)
else
  kernel=$(cat "/sys/fs/cgroup/memory/taskctl.slice/taskctl-$id2-1.scope/memory.limit_in_bytes")
fi
rc=0; timeout 60 taskctl wait "$id2" || rc=$?
T status --json "$id2" >"$WORK/s2.json"
reason=$(json reason <"$WORK/s2.json")
echo "lowered below usage: the kernel's limit $kernel; wait $rc, reason $reason"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  # cgroup v2: the kernel reclaims what it can, then OOM-kills.
  [ $rc = 137 ] && [ "$reason" = oom ] || fail "cgroup v2: lowered below usage: wait $rc, reason $reason, want 137 oom"
else
  # cgroup v1: the kernel refuses a memory.limit_in_bytes it cannot reclaim to (EBUSY; systemd
  # logs it): the old limit stays in the kernel and the task runs its course.
  [ "$kernel" = $((256 << 20)) ] || fail "cgroup v1: memory.limit_in_bytes $kernel after lowering below usage"
  [ $rc = 0 ] || fail "cgroup v1: lowered below usage: wait $rc, reason $reason, want 0"
fi
pass
