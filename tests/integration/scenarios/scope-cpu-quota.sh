#!/bin/bash
# Issue 4, acceptance 3: --cpu 20% is the scope's quota.
. "$(dirname "$0")/lib.sh"
up
id=$(T submit --cpu 20% -- sleep 5)
unit=taskctl-$id-1.scope
until_ok 10 is_active "$unit" || fail "$unit never became active"
[ "$(prop "$unit" CPUQuotaPerSecUSec)" = 200ms ] || fail "CPUQuotaPerSecUSec=$(prop "$unit" CPUQuotaPerSecUSec)"
quota=$(cat /sys/fs/cgroup/cpu/taskctl.slice/$unit/cpu.cfs_quota_us 2>/dev/null ||
        awk '{print $1}' /sys/fs/cgroup/taskctl.slice/$unit/cpu.max)
[ "$quota" = 20000 ] || fail "cpu quota in the cgroup is $quota, want 20000"
[ "$(prop "$unit" Slice)" = taskctl.slice ] || fail "not in taskctl.slice"
T cancel "$id"
pass
