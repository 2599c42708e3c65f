#!/bin/bash
# Runs INSIDE the VM, as root, once the system is up (taskctl-vm.service, baked into the base
# image by vm.sh, starts it from the input disk /opt/taskctl-vm and powers off after it).
# Runs each scenario of $SCENARIOS (from ./env) in order, with a time limit, and prints for
# vm.sh: "@@ up UPTIME" first, one "@@ PASS: NAME (Ns)" or "@@ FAIL: NAME (...)" line per
# scenario, "@@ end" last. Everything it prints goes to the host through the VM's second serial
# port; vm.sh shows the rest (the scenarios' own output) as it comes.
set -uo pipefail
IN=/opt/taskctl-vm
# Plain text on the serial line: no colours, no pager.
export SYSTEMD_COLORS=0 SYSTEMD_PAGER='' TERM=dumb
echo "@@ up $(cut -d' ' -f1 /proc/uptime)"
# shellcheck source=/dev/null
. "$IN/env"

# A writable copy: scenarios keep their files there (the .deb, a rebuilt one; the README and
# its block reader for the readme scenario).
W=/var/lib/taskctl-vm
rm -rf "$W"; mkdir -p "$W"; chmod 755 "$W"
cp -r "$IN"/scenarios "$IN"/readme "$IN"/taskctl_*.deb "$W/"

# The machine the scenarios claim to test: systemd as PID 1 on the unified cgroup hierarchy.
state=$(systemctl is-system-running 2>&1)
echo "guest: $(uname -r), systemd $(systemctl --version | awk 'NR == 1 { print $2 }'), system $state," \
     "/sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), $(nproc) CPUs"
systemd-analyze 2>&1 | head -n 1
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  for name in $SCENARIOS; do echo "@@ FAIL: $name (not cgroup v2)"; done
  echo "@@ end"; exit 0
fi

for name in $SCENARIOS; do
  echo "--- $name"
  start=$SECONDS
  rc=0
  (cd "$W" && exec timeout -k 10 "$SCENARIO_TIMEOUT" bash "scenarios/$name.sh" </dev/null 2>&1) || rc=$?
  took=$((SECONDS - start))
  if [ $rc = 0 ]; then
    echo "@@ PASS: $name (${took}s)"
  elif [ $rc = 124 ]; then
    echo "@@ FAIL: $name (timed out after ${SCENARIO_TIMEOUT}s)"
  else
    echo "@@ FAIL: $name (exit $rc, ${took}s)"
  fi
done
echo "@@ end"
