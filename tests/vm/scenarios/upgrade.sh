#!/bin/bash
# Issue 7, acceptance 4: `apt install` of a rebuilt package with a higher version while 5 tasks
# of 20 s run: the upgrade restarts taskctld, the tasks keep running through it, and all 5 end
# with their real exit codes, none lost. The rebuilt package is this one with its Version
# bumped (dpkg-deb), so the upgrade runs the package's real maintainer scripts. Each task also
# waits for the upgrade to be over before it exits: on a slow machine apt may take 20 s.
. "$(dirname "$0")/lib.sh"
up
concurrency 10
deb=$(ls taskctl_*.deb | head -n 1)
old=$(dpkg-query -W -f='${Version}' taskctl)
new=$old+vmupgrade1
dpkg-deb -R "$deb" "$WORK/pkg"
sed -i "s/^Version: .*/Version: $new/" "$WORK/pkg/DEBIAN/control"
dpkg-deb -Znone -b "$WORK/pkg" "$WORK/taskctl_${new}_amd64.deb" >/dev/null || fail "cannot rebuild the package"
dpkg --compare-versions "$new" gt "$old" || fail "$new is not newer than $old"

ids=()
for _ in $(seq 5); do
  ids+=("$(T submit -- sh -c 'echo $$ >"$0/$TASKCTL_TASK_ID.pid"; sleep 20
                              until [ -e "$0/upgraded" ]; do sleep 0.2; done
                              exit $(($TASKCTL_TASK_ID % 7 + 1))' "$WORK")")
done
started() { for id in "${ids[@]}"; do [ -s "$WORK/$id.pid" ] || return 1; done; }
until_ok 60 started || fail "not all 5 started"
t0=$SECONDS
before=$(main_pid)
DEBIAN_FRONTEND=noninteractive apt-get install -y "$WORK/taskctl_${new}_amd64.deb" >"$WORK/apt.log" 2>&1 ||
  { cat "$WORK/apt.log"; fail "apt-get install of $new failed"; }
echo "upgraded $old -> $(dpkg-query -W -f='${Version}' taskctl) in $((SECONDS - t0))s; taskctld MainPID $before -> $(main_pid)"
[ "$(dpkg-query -W -f='${Version}' taskctl)" = "$new" ] || fail "the installed version is not $new"
[ "$(main_pid)" != "$before" ] || fail "the upgrade did not restart taskctld (MainPID $before)"
for id in "${ids[@]}"; do kill -0 "$(cat "$WORK/$id.pid")" || fail "task $id died in the upgrade"; done
touch "$WORK/upgraded"
for id in "${ids[@]}"; do
  rc=0; T wait "$id" || rc=$?
  T status --json "$id" >"$WORK/s.json"
  state=$(json state <"$WORK/s.json"); reason=$(json reason <"$WORK/s.json")
  [ "$reason" = exit ] && [ $rc = $((id % 7 + 1)) ] ||
    fail "task $id: $state, reason $reason, wait $rc; want its exit code $((id % 7 + 1))"
done
T submit --wait -- true >/dev/null || fail "the upgraded daemon does not run tasks"
concurrency default
pass
