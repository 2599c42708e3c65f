#!/bin/bash
# Issue 4, acceptance 2: with concurrency >= 50, 50 tasks that ignore SIGTERM
# and fork a setsid grandchild, --timeout 2s --kill-grace 1s: each task and its
# grandchild are gone within 4 s of that task's start + 2 s, reason timeout,
# wait 124, nothing left in taskctl.slice, the last output kept. A cancel of a
# running task of that kind ends it the same way, cancelled, 130.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = 60\n' >/etc/taskctl/taskctld.toml
up; systemctl reload taskctld.service; sleep 0.5
stubborn='trap "" TERM; setsid sh -c "trap \"\" TERM; echo \$\$ >$0/\$PPID.grandchild; sleep 1000" & echo $$ >"$0/$$.child"; echo last-words; sleep 1000'
ids=()
for _ in $(seq 50); do
  ids+=("$(T submit --timeout 2s --kill-grace 1s -- sh -c "$stubborn" "$WORK")")
done
for id in "${ids[@]}"; do
  rc=0; T wait "$id" || rc=$?
  [ $rc = 124 ] || fail "task $id: wait exited $rc, want 124"
  T status --json "$id" >"$WORK/s.json"
  python3 - "$WORK/s.json" <<'PY' || fail "task $id: $(cat "$WORK/s.json")"
import datetime, json, sys
t = json.load(open(sys.argv[1]))
a = t["attempts"][-1]
assert t["reason"] == "timeout", t["reason"]
start = datetime.datetime.fromisoformat(a["started_at"].replace("Z", "+00:00"))
end = datetime.datetime.fromisoformat(a["ended_at"].replace("Z", "+00:00"))
took = (end - start).total_seconds()
assert took <= 2 + 4, f"ended {took:.2f}s after its start"
assert "last-words" in (a["output_tail"] or ""), "output tail lost"
PY
done
left=$(systemd-cgls --no-pager /taskctl.slice 2>/dev/null | grep -c "sleep 1000" || true)
[ "$left" = 0 ] || fail "$left processes left in taskctl.slice: $(systemd-cgls --no-pager /taskctl.slice)"
for f in "$WORK"/*.grandchild; do
  ! kill -0 "$(cat "$f")" 2>/dev/null || fail "a setsid grandchild survived ($(cat "$f"))"
done

# Cancel of a running stubborn task: the same TERM, grace, KILL path.
id=$(T submit --kill-grace 1s -- sh -c "$stubborn" "$WORK")
running() { [ "$(T status --json "$id" | json state)" = running ]; }
until_ok 10 running || fail "never ran"
sleep 0.5
T cancel "$id"
rc=0; timeout 10 taskctl wait "$id" || rc=$?
[ $rc = 130 ] || fail "cancelled task: wait exited $rc, want 130"
[ "$(T status --json "$id" | json state)" = cancelled ] || fail "not cancelled"
sleep 0.5
left=$(systemd-cgls --no-pager /taskctl.slice 2>/dev/null | grep -c "sleep 1000" || true)
[ "$left" = 0 ] || fail "the cancelled task left $left processes"
pass
