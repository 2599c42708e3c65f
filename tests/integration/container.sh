#!/bin/bash
# The integration suite: the real taskctld as a service of a real systemd (PID 1) with a real
# system D-Bus, in a throwaway container booted on an overlay of this machine's root
# (DESIGN.md section 7). As root:
#
#   tests/integration/container.sh [--runner direct] [--shell] BUILD_DIR [SCENARIO...]
#
# Boots ONE container, installs BUILD_DIR into it as the package would, runs every scenario of
# tests/integration/scenarios/ and of tests/shared-scenarios/ (or the ones named, e.g.
# `socket-activation`) inside it, powers it off, and checks that nothing is left behind: no
# mount, no process, no cgroup. One PASS/FAIL line per scenario; exits 1 if any failed. It
# never skips: a container that cannot boot is a failure, with the reason and the end of its
# console.
#
#   --runner direct   (or TASKCTL_IT_RUNNER=direct) a drop-in replaces the unit's pinned
#                     `--runner scope` with `--runner direct`. For testing the plumbing until the
#                     scope runner works: under `direct` tasks live in the service's cgroup and
#                     die with it, so the scope scenarios fail (as they should).
#   --shell           after the scenarios, an interactive shell inside the container; the
#                     container is torn down when it exits.
#
# Environment: TASKCTL_IT_TIMEOUT (seconds per scenario, default 300), TASKCTL_IT_WAIT (seconds
# to wait for another container to go away, default 600).
set -euo pipefail
export LC_ALL=C

usage() { sed -n 2,23p "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNNER=${TASKCTL_IT_RUNNER:-scope}
SHELL_AFTER=
SCENARIO_TIMEOUT=${TASKCTL_IT_TIMEOUT:-300}
while [ $# -gt 0 ]; do
  case $1 in
    --runner) [ $# -ge 2 ] || usage; RUNNER=$2; shift 2;;
    --runner=*) RUNNER=${1#*=}; shift;;
    --shell) SHELL_AFTER=1; shift;;
    -h|--help) usage;;
    -*) echo "unknown option $1" >&2; usage;;
    *) break;;
  esac
done
[ $# -ge 1 ] || usage
BUILD=$(cd "$1" && pwd); shift
case $RUNNER in scope|direct) ;; *) echo "--runner: scope or direct, not $RUNNER" >&2; exit 64;; esac

# Scenarios: this suite's own, and those it shares with the VM suite (with common.sh, and
# slurm.sh, the Slurm test cluster's harness: neither is a scenario).
SHARED=$REPO/tests/shared-scenarios
scenario_file() { [ -f "$HERE/scenarios/$1.sh" ] && echo "$HERE/scenarios/$1.sh" || echo "$SHARED/$1.sh"; }
SCENARIOS=()
if [ $# -eq 0 ]; then
  for f in "$HERE"/scenarios/*.sh "$SHARED"/*.sh; do
    case $(basename "$f") in lib.sh|common.sh|slurm.sh) ;; *) SCENARIOS+=("$(basename "$f" .sh)");; esac
  done
  mapfile -t SCENARIOS < <(printf '%s\n' "${SCENARIOS[@]}" | sort)
else
  for name in "$@"; do
    name=$(basename "$name" .sh)
    [ -f "$(scenario_file "$name")" ] || { echo "no scenario $name in $HERE/scenarios or $SHARED" >&2; exit 64; }
    SCENARIOS+=("$name")
  done
fi

say() { echo "integration: $*"; }
die() { echo "integration: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it mounts an overlay and boots a container)"
[ -x "$BUILD/bin/taskctld" ] && [ -x "$BUILD/bin/taskctl" ] && [ -x "$BUILD/bin/taskctl-exec" ] ||
  die "$BUILD/bin lacks taskctld, taskctl or taskctl-exec: build first"

# The container boots this machine's own root, so what runs inside must be installed here.
need() {
  command -v systemd-nspawn && command -v nsenter && command -v flock && [ -x /lib/systemd/systemd ] &&
    command -v dbus-daemon && command -v gdbus && command -v python3 && command -v runuser &&
    command -v munged && command -v slurmctld && command -v slurmd && command -v sbatch && command -v ip
}
if ! need >/dev/null; then
  say "installing what the container needs (scripts/deps)"
  "$REPO/scripts/deps"
  need >/dev/null || die "still missing one of systemd-nspawn, nsenter, systemd, dbus, gdbus, python3, munge, Slurm, ip"
fi

# --- one container at a time -------------------------------------------------------------------
# Every nspawn container on this host shares the cgroup v1 hierarchies (and nspawn's payload
# cgroup): two at once would see each other's units and limits. Our own runs queue on a lock;
# a container of anyone else's is waited for.
exec 9>/var/tmp/taskctl-it.lock
if ! flock -n 9; then
  say "another integration run holds /var/tmp/taskctl-it.lock; waiting"
  flock -w "${TASKCTL_IT_WAIT:-600}" 9 || die "another integration run kept the lock for ${TASKCTL_IT_WAIT:-600} s"
fi

# A run killed with SIGKILL leaves its scratch dir: power its container off and remove it.
stale=
for old in /var/tmp/taskctl-it-[0-9]*; do
  [ -d "$old" ] || continue
  say "removing the remains of an earlier run: $old"
  npid=$(cat "$old/nspawn.pid" 2>/dev/null || true)
  if [ -n "$npid" ] && grep -qs -- "$old/root" "/proc/$npid/cmdline"; then
    kill -KILL "$npid" 2>/dev/null || true
  fi
  ppid1=$(cat "$old/pid1" 2>/dev/null || true)
  if [ -n "$ppid1" ] && [ "$(readlink "/proc/$ppid1/root" 2>/dev/null)" = "$old/root" ]; then
    kill -KILL "$ppid1" 2>/dev/null || true
  fi
  sleep 0.5
  mountpoint -q "$old/root" && umount -l "$old/root"
  rm -rf "$old"
  stale=1
done

# Other containers on this host (a zombie is not one).
others() { ps -eo pid=,stat=,comm=,args= | awk '$3 == "systemd-nspawn" && $2 !~ /^Z/ { $2 = $3 = ""; print }'; }
if [ -n "$stale" ] && [ -z "$(others)" ]; then
  # Its baseline is lost; what nspawn itself leaves is known (and empty by now).
  for h in /sys/fs/cgroup/*/; do
    for d in payload supervisor; do
      [ -d "$h$d" ] && find "$h$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
  done
fi
deadline=$((SECONDS + ${TASKCTL_IT_WAIT:-600}))
while [ -n "$(others)" ]; do
  [ $SECONDS -lt $deadline ] ||
    die "another systemd container runs on this host, and DESIGN 7 allows one at a time: $(others)"
  [ -n "${waited:-}" ] || say "waiting for another container to stop: $(others)"
  waited=1
  sleep 2
done

# --- state and teardown ------------------------------------------------------------------------
S=/var/tmp/taskctl-it-$$
ROOT=$S/root
NSPAWN=
PID1=
TORN_DOWN=
RESULTS=()
FAILED=0

# Where nspawn (started from here) and the container's systemd make cgroups: beneath this
# process's own cgroup in every hierarchy. Their subdirectories before the boot are the
# baseline that teardown restores.
cgroup_bases() {
  local ctrl path mnt
  while IFS=: read -r _ ctrl path; do
    if [ -z "$ctrl" ]; then
      mnt=$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)
    else
      mnt=$(findmnt -rn -t cgroup -o TARGET,OPTIONS |
            awk -v c="${ctrl%%,*}" '{ n = split($2, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $1; exit } }')
    fi
    [ -n "$mnt" ] && [ -d "$mnt$path" ] && echo "${mnt}${path%/}"
  done </proc/self/cgroup | sort -u
}
cgroup_dirs() { local b; for b in $(cgroup_bases); do find "$b" -mindepth 1 -type d 2>/dev/null; done | sort; }
CGROUPS_BEFORE=$(cgroup_dirs)

# Inside the container, with a clean environment.
inside() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
      TASKCTL_IT_RUNNER="$RUNNER" nsenter -t "$PID1" -a "$@" 9>&-
}

teardown() {
  [ -z "$TORN_DOWN" ] || return 0
  TORN_DOWN=1
  if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
    # SIGTERM: nspawn asks the container's systemd to power off.
    kill -TERM "$NSPAWN" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$NSPAWN" 2>/dev/null; then
      say "the container did not power off in 30 s; killing it. Its pending jobs:"
      inside systemctl list-jobs --no-legend --no-pager 2>/dev/null | grep -v waiting || true
      # PID 1's death ends every process of its PID namespace.
      [ -n "$PID1" ] && kill -KILL "$PID1" 2>/dev/null || true
      kill -KILL "$NSPAWN" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  if mountpoint -q "$ROOT" 2>/dev/null; then
    for _ in $(seq 20); do umount "$ROOT" 2>/dev/null && break; sleep 0.25; done
    mountpoint -q "$ROOT" && { say "$ROOT is busy; detaching it"; umount -l "$ROOT"; }
  fi
  rm -rf "$S"
  # nspawn (without a host systemd) and the container's systemd leave empty cgroups behind:
  # remove every one the run created, deepest first. Only while no other container runs: all
  # containers here share these hierarchies.
  # The last processes of a killed container take a moment to leave theirs.
  if [ -z "$(others)" ]; then
    local new
    for _ in $(seq 25); do
      new=$(comm -13 <(echo "$CGROUPS_BEFORE") <(cgroup_dirs))
      [ -n "$new" ] || break
      echo "$new" | sort -r | while read -r d; do rmdir "$d" 2>/dev/null || true; done
      sleep 0.2
    done
  else
    say "another container started meanwhile; leaving cgroups alone: $(others)"
  fi
}

# (d) What the run leaves behind, checked on the host after teardown.
check_nothing_left() {
  local left=""
  if grep -q ' /var/tmp/taskctl-it' /proc/mounts; then
    left+=" mounts: $(grep ' /var/tmp/taskctl-it' /proc/mounts | cut -d' ' -f2 | tr '\n' ' ')"
  fi
  local procs
  procs=$(pgrep -a -f '^systemd-nspawn .*/var/tmp/taskctl-it-' || true)
  [ -z "$procs" ] || left+=" processes: $procs"
  # Dead but not yet reaped (PID 1 goes to this machine's init) is gone enough.
  local p
  for p in $NSPAWN $PID1; do
    for _ in $(seq 50); do
      [ -d "/proc/$p" ] && [ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" != Z ] || break
      sleep 0.2
    done
    [ -d "/proc/$p" ] && [ "$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null)" != Z ] &&
      left+=" process $p ($(cat "/proc/$p/comm" 2>/dev/null)) still runs"
  done
  [ ! -e "$S" ] || left+=" scratch dir $S"
  local cg
  cg=$(comm -13 <(echo "$CGROUPS_BEFORE") <(cgroup_dirs) | head -n 20 | tr '\n' ' ')
  [ -z "$cg" ] || left+=" cgroups: $cg"
  if [ -z "$left" ]; then
    RESULTS+=("PASS: leaves-nothing-behind")
  else
    RESULTS+=("FAIL: leaves-nothing-behind:$left")
    FAILED=1
  fi
}

finish() {
  local rc=$?
  trap '' INT TERM          # a second Ctrl-C must not leave a half-torn-down container
  [ -z "$NSPAWN" ] || say "tearing down"
  teardown
  check_nothing_left
  echo
  for r in "${RESULTS[@]}"; do echo "$r"; done
  [ $FAILED = 0 ] || rc=1
  exit $rc
}
trap finish EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM HUP

boot_failed() {
  echo "integration: FAIL: the container did not boot: $*" >&2
  if [ -f "$S/console.log" ]; then
    echo "--- console (last 40 lines) ---" >&2
    tail -n 40 "$S/console.log" >&2
  fi
  RESULTS+=("FAIL: boot: $*")
  exit 1
}

# --- the overlay, and the package installed into it ----------------------------------------------
# Never boot systemd on the machine's own root (it empties /tmp at boot): everything the
# container writes lands in $S/upper. No --bind is needed: the lower layer is this machine's
# root, and the build is copied in, so the container never writes to the host's tree.
mkdir -p "$S"/{upper,work,root}
mount -t overlay overlay -o "lowerdir=/,upperdir=$S/upper,workdir=$S/work" "$ROOT" ||
  boot_failed "cannot mount the overlay on $ROOT"

# Whatever taskctl state or units this machine has must not leak into the test.
rm -rf "$ROOT/var/lib/taskctl" "$ROOT/etc/taskctl" "$ROOT/etc/systemd/system/taskctld.service.d"
find "$ROOT/etc/systemd/system" -name 'taskctl*' -exec rm -rf {} + 2>/dev/null || true

# The build's own install rules, with the package's prefix: taskctld in /usr/sbin (where the unit
# runs it), taskctl in /usr/bin, the units in /usr/lib/systemd/system. taskctl-exec goes to
# TASKCTL_LIBEXECDIR, an absolute path fixed when the build was configured, which --prefix does
# not move and which is the very path compiled into taskctld: the daemon finds its shim whatever
# CMAKE_INSTALL_PREFIX the build used (/usr/local/libexec/taskctl by default, /usr/libexec/taskctl
# for the package). Copying to /usr/libexec/taskctl by hand would break for a default build.
DESTDIR=$ROOT cmake --install "$BUILD" --prefix /usr >"$S/install.log" 2>&1 ||
  { cat "$S/install.log" >&2; boot_failed "cmake --install $BUILD failed"; }
install -D -m 0644 "$REPO/etc/taskctl/taskctld.toml" "$ROOT/etc/taskctl/taskctld.toml"
# Enabled as the package enables them: the socket and the service start at boot.
systemctl --root="$ROOT" --quiet enable taskctld.socket taskctld.service ||
  boot_failed "systemctl enable taskctld.socket taskctld.service failed"
if [ "$RUNNER" = direct ]; then
  mkdir -p "$ROOT/etc/systemd/system/taskctld.service.d"
  cat >"$ROOT/etc/systemd/system/taskctld.service.d/50-it-runner-direct.conf" <<'EOF'
# Written by tests/integration/container.sh --runner direct: tests the plumbing only. Tasks then
# live in this service's cgroup and die when it stops.
[Service]
ExecStart=
ExecStart=/usr/sbin/taskctld --runner direct
# The tasks stay in this cgroup: the unit's cgroup hardening would bind them (see its comments).
IPAddressDeny=
DevicePolicy=auto
EOF
  say "NOTE: taskctld runs with --runner direct (drop-in), not the unit's --runner scope"
fi
mkdir -p "$ROOT/var/lib/taskctl-it"
cp -r "$HERE/scenarios" "$ROOT/var/lib/taskctl-it/"
cp "$SHARED"/*.sh "$ROOT/var/lib/taskctl-it/scenarios/"

# --- boot ----------------------------------------------------------------------------------------
say "booting a container on $ROOT"
boot_started=$SECONDS
setsid systemd-nspawn -q --register=no --keep-unit --link-journal=no --private-network \
    -M taskctl-it -D "$ROOT" -b >"$S/console.log" 2>&1 </dev/null 9>&- &
NSPAWN=$!
echo "$NSPAWN" >"$S/nspawn.pid"
for _ in $(seq 100); do
  PID1=$(pgrep -P "$NSPAWN" -x systemd || true)
  [ -n "$PID1" ] && break
  kill -0 "$NSPAWN" 2>/dev/null || boot_failed "systemd-nspawn exited"
  sleep 0.1
done
[ -n "$PID1" ] || boot_failed "no systemd under systemd-nspawn (pid $NSPAWN) after 10 s"
echo "$PID1" >"$S/pid1"

# Until systemd has finished starting up. A taskctld.service that never becomes ready holds the
# boot in "starting": once its start is the only job running, that is the scenarios' failure to
# show, not a boot failure.
wait_booted() {
  local state="" pending deadline=$((SECONDS + 120)) only_taskctld=0
  while :; do
    state=$(inside systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) return 0;; esac
    if [ "$state" = starting ]; then
      pending=$(inside systemctl list-jobs --no-legend 2>/dev/null | awk '$4 == "running" && $2 !~ /\.target$/ { print $2 }' | sort -u)
      if [ "$pending" = taskctld.service ]; then
        only_taskctld=$((only_taskctld + 1))
        if [ $only_taskctld -ge 50 ]; then
          say "the boot waits for taskctld.service alone, still not ready after 10 s; going on"
          return 0
        fi
      else
        only_taskctld=0
      fi
    fi
    kill -0 "$NSPAWN" 2>/dev/null || boot_failed "systemd-nspawn exited (state: ${state:-none})"
    if [ $SECONDS -ge $deadline ]; then
      inside systemctl list-jobs --no-pager >&2 2>/dev/null || true
      boot_failed "systemd still \"${state:-unreachable}\" after 120 s"
    fi
    sleep 0.2
  done
}
wait_booted

# nspawn mounts the cgroup v1 controllers read-only: limits would be accepted and not enforced.
# Make them writable and let systemd re-execute to take them over. (A cgroup v2 host has none.)
# freezer, cpuset and devices too: the Slurm test cluster's cgroup plugins (proctrack/cgroup,
# task/cgroup; tests/shared-scenarios/slurm.sh) make their job cgroups there.
inside sh -c 'for c in memory cpu cpuacct pids blkio freezer cpuset devices; do
    if mountpoint -q /sys/fs/cgroup/$c; then mount -o remount,bind,rw /sys/fs/cgroup/$c || exit 1; fi
  done' || boot_failed "cannot remount the cgroup controllers read-write"
inside systemctl daemon-reexec || boot_failed "systemctl daemon-reexec failed"
wait_booted
state=$(inside systemctl is-system-running 2>/dev/null || true)
say "container up in $((SECONDS - boot_started))s: PID 1 is $PID1 on the host, system $state"
case $state in
  degraded) inside systemctl --failed --no-legend --no-pager || true;;
  starting) inside systemctl list-jobs --no-legend --no-pager || true;;
esac

# --- the scenarios -------------------------------------------------------------------------------
for name in "${SCENARIOS[@]}"; do
  say "--- $name"
  start=$SECONDS
  # In the background, so that Ctrl-C is handled at once; `timeout` inside, so that a hung
  # scenario takes its children with it.
  inside --wdns=/var/lib/taskctl-it timeout -k 10 "$SCENARIO_TIMEOUT" bash "scenarios/$name.sh" </dev/null &
  rc=0
  wait $! || rc=$?
  took=$((SECONDS - start))
  if [ $rc = 0 ]; then
    RESULTS+=("PASS: $name (${took}s)")
  elif [ $rc = 124 ]; then
    RESULTS+=("FAIL: $name (timed out after ${SCENARIO_TIMEOUT}s)"); FAILED=1
  else
    RESULTS+=("FAIL: $name (exit $rc, ${took}s)"); FAILED=1
  fi
  echo "${RESULTS[-1]}"
done

if [ -n "$SHELL_AFTER" ]; then
  say "a shell in the container (scenarios in /var/lib/taskctl-it); exit to tear down"
  inside --wdns=/var/lib/taskctl-it bash -l </dev/tty >/dev/tty 2>&1 || true
fi
exit $FAILED
