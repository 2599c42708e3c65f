#!/bin/bash
# Issue 7, acceptance 3 (cgroup v2): --cpu 20% is the scope's cpu.max, "20000 100000".
. "$(dirname "$0")/lib.sh"
up
id=$(T submit --cpu 20% -- sleep 60)
cg=$(scope_cgroup "$id")
until_ok 30 test -f "$cg/cpu.max" || fail "no $cg/cpu.max: $(ls "$SLICE")"
[ "$(cat "$cg/cpu.max")" = "20000 100000" ] || fail "$cg/cpu.max is '$(cat "$cg/cpu.max")', want '20000 100000'"
[ "$(prop "taskctl-$id-1.scope" CPUQuotaPerSecUSec)" = 200ms ] ||
  fail "CPUQuotaPerSecUSec=$(prop "taskctl-$id-1.scope" CPUQuotaPerSecUSec)"
# An OOM kill must not make systemd stop the scope under the shim (see oom).
[ "$(prop "taskctl-$id-1.scope" OOMPolicy)" = continue ] ||
  fail "OOMPolicy=$(prop "taskctl-$id-1.scope" OOMPolicy), want continue"
T cancel "$id" >/dev/null
rc=0; T wait "$id" || rc=$?
[ $rc = 130 ] || fail "cancelled task: wait exited $rc, want 130"
pass
