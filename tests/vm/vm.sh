#!/bin/bash
# The VM suite: taskctl where it will live. Boots a real Debian 12 under qemu (its own 6.1
# kernel, systemd as PID 1, cgroup v2 as on a Debian 12 server), installs the Debian package
# there with apt, and runs the scenarios of tests/vm/scenarios/ inside it (issue 7). As root:
#
#   tests/vm/vm.sh [--deb FILE] [--keep-console] [SCENARIO...]
#
# Tests the package scripts/build-deb makes (build-deb/taskctl_*.deb), building it first when
# there is none or the checkout has changed since (a file build-deb would pack, tests/vm/
# aside, newer than the package). Boots ONE VM, runs every scenario (or the ones named, e.g.
# `oom`) in it in order, `install` always first (it installs the package the others need), and
# powers it off. One PASS/FAIL line per scenario; exits 1 if any failed. It never skips: a VM
# that cannot be built or booted is a failure, with the reason and the end of its console.
# A scenario is one script in tests/vm/scenarios/ (lib.sh holds what they share), or in
# tests/shared-scenarios/ (run by the container suite too; common.sh there is what both suites'
# lib.sh build on, slurm.sh the Slurm test cluster's harness): a new file joins the run, in name
# order.
#
# The VM has no network. Its base image is built from the Debian archive (debootstrap, 1 to
# 3 min) with everything the package and the scenarios need, and cached in
# /var/tmp/taskctl-vm/image-KEY, KEY a hash of its recipe and package list (which takes in the
# package's own dependencies): a change to either builds a new one. Each run boots a throwaway
# snapshot of it (qemu -snapshot); the package and the scenarios come in on a second, small
# disk. Software emulation (TCG): nested KVM fails on the CI machines. The boot takes about
# 20 s, the scenarios about 2 min.
#
#   --deb FILE        test this taskctl_*.deb instead (nothing is built)
#   --keep-console    keep the VM's console and the scenarios' output in /var/tmp/taskctl-vm/last-run
#
# Environment: TASKCTL_VM_TIMEOUT (seconds for the boot and all scenarios, default 2400),
# TASKCTL_VM_SCENARIO_TIMEOUT (seconds per scenario, default 600), TASKCTL_VM_MIRROR (the
# Debian archive, default http://deb.debian.org/debian), TASKCTL_VM_ACCEL (qemu accelerator,
# default tcg; kvm where nested virtualisation works), TASKCTL_VM_WAIT (seconds to wait for
# another run's lock, default 1800).
set -euo pipefail
export LC_ALL=C

usage() { sed -n 2,34p "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=/var/tmp/taskctl-vm
MIRROR=${TASKCTL_VM_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${TASKCTL_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
ACCEL=${TASKCTL_VM_ACCEL:-tcg}
TOTAL_TIMEOUT=${TASKCTL_VM_TIMEOUT:-2400}
SCENARIO_TIMEOUT=${TASKCTL_VM_SCENARIO_TIMEOUT:-600}
DEB=
KEEP_CONSOLE=
while [ $# -gt 0 ]; do
  case $1 in
    --deb) [ $# -ge 2 ] || usage; DEB=$2; shift 2;;
    --deb=*) DEB=${1#*=}; shift;;
    --keep-console) KEEP_CONSOLE=1; shift;;
    -h|--help) usage;;
    -*) echo "unknown option $1" >&2; usage;;
    *) break;;
  esac
done

# install first: every other scenario needs the package; remove last: it takes it away.
# Scenarios: this suite's own, and those it shares with the container suite (with common.sh).
SHARED=$REPO/tests/shared-scenarios
SCENARIOS=(install)
if [ $# -eq 0 ]; then
  for n in $(for f in "$HERE"/scenarios/*.sh "$SHARED"/*.sh; do basename "$f" .sh; done | sort); do
    case $n in lib|common|slurm|install|remove) ;; *) SCENARIOS+=("$n");; esac
  done
  SCENARIOS+=(remove)
else
  for name in "$@"; do
    name=$(basename "$name" .sh)
    [ -f "$HERE/scenarios/$name.sh" ] || [ -f "$SHARED/$name.sh" ] ||
      { echo "no scenario $name in $HERE/scenarios or $SHARED" >&2; exit 64; }
    [ "$name" = install ] || SCENARIOS+=("$name")
  done
fi

say() { echo "vm: $*"; }
die() { echo "vm: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"

# What the host needs: debootstrap builds the image, qemu boots it, mke2fs makes its disks.
need() { command -v debootstrap && command -v qemu-system-x86_64 && command -v mke2fs && command -v flock; }
if ! need >/dev/null; then
  say "installing what the VM needs (scripts/deps)"
  "$REPO/scripts/deps"
  need >/dev/null || die "still missing one of debootstrap, qemu-system-x86_64, mke2fs, flock"
fi

# --- the package ---------------------------------------------------------------------------------
T0=$SECONDS
DEB_TIME=given
if [ -z "$DEB" ]; then
  # What scripts/build-deb packs: the files git tracks or would track. One of them newer than
  # the package, or deleted since, means a rebuild.
  DEB=$(ls -t "$REPO"/build-deb/taskctl_*.deb 2>/dev/null | head -n 1 || true)
  changed=
  if [ -n "$DEB" ]; then
    changed=$(cd "$REPO" && git ls-files -z --cached --others --exclude-standard -- . ':!tests/vm' |
              xargs -0 -r sh -c 'for f; do
                                   if [ -e "$f" ] || [ -L "$f" ]; then [ "$f" -nt "$0" ] && echo "$f"
                                   else echo "$f"; fi
                                 done; true' "$DEB" | head -n 3 | tr '\n' ' ' || true)
  fi
  if [ -z "$DEB" ] || [ -n "$changed" ]; then
    say "building the package with scripts/build-deb${changed:+ (changed since the last one: ${changed% })}"
    "$REPO/scripts/build-deb" || die "scripts/build-deb failed"
    DEB=$(ls -t "$REPO"/build-deb/taskctl_*.deb 2>/dev/null | head -n 1 || true)
    [ -n "$DEB" ] || die "scripts/build-deb made no build-deb/taskctl_*.deb"
    DEB_TIME="built in $((SECONDS - T0))s"
  else
    DEB_TIME="up to date"
  fi
fi
[ -f "$DEB" ] && [ "$(dpkg-deb -f "$DEB" Package 2>/dev/null)" = taskctl ] || die "$DEB is not the taskctl package"
DEB=$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")
say "package $DEB ($DEB_TIME)"

# --- one run at a time ---------------------------------------------------------------------------
# Two VMs under software emulation on two cores would each take twice as long, and two image
# builds would write the same directory.
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
if ! flock -n 9; then
  say "another VM run holds $CACHE/lock; waiting"
  flock -w "${TASKCTL_VM_WAIT:-1800}" 9 || die "another VM run kept the lock for ${TASKCTL_VM_WAIT:-1800} s"
fi

# The pid of the qemu of run directory $1 (its -pidfile), if that process still runs it.
own_qemu() {
  local qpid
  qpid=$(cat "$1/qemu.pid" 2>/dev/null || true)
  [ -n "$qpid" ] && grep -qs -- "$1/" "/proc/$qpid/cmdline" && echo "$qpid"
  true
}

# A run killed with SIGKILL leaves its scratch dir, and perhaps its qemu (which no longer holds
# the lock: no child inherits it), or a half-built image with the host's /proc, /sys and /dev
# still mounted in it.
for old in "$CACHE"/run-* "$CACHE"/image-*.tmp; do
  [ -d "$old" ] || continue
  say "removing the remains of an earlier run: $old"
  qpid=$(own_qemu "$old")
  [ -z "$qpid" ] || kill -KILL "$qpid" 2>/dev/null || true
  for m in $(awk -v d="$old/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" || true
  done
  rm -rf "$old"
done

# --- state and teardown --------------------------------------------------------------------------
S=$CACHE/run-$$
QEMU=
MOUNTS=()
IMAGE_TMP=
RESULTS=()
FAILED=0

finish() {
  local rc=$? i qpid
  trap '' INT TERM
  if [ -n "$QEMU" ] && kill -0 "$QEMU" 2>/dev/null; then
    say "stopping the VM"
    kill -TERM "$QEMU" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$QEMU" 2>/dev/null || break; sleep 0.1; done
    qpid=$(own_qemu "$S")
    kill -KILL "$QEMU" ${qpid:+"$qpid"} 2>/dev/null || true
  fi
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null || true; done
  if [ -n "$KEEP_CONSOLE" ] && [ -d "$S" ]; then
    rm -rf "$CACHE/last-run"; mkdir -p "$CACHE/last-run"
    cp "$S"/console.log "$S"/output.log "$CACHE/last-run/" 2>/dev/null || true
    say "console and output kept in $CACHE/last-run"
  fi
  rm -rf "$S"
  [ -z "$IMAGE_TMP" ] || rm -rf "$IMAGE_TMP"
  if [ ${#RESULTS[@]} -gt 0 ]; then
    echo
    for i in "${RESULTS[@]}"; do echo "$i"; done
  fi
  [ $FAILED = 0 ] || rc=1
  exit $rc
}
trap finish EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM HUP

# --- the base image ------------------------------------------------------------------------------
# Everything comes from the archive: the VM has no network, so `apt install ./taskctl_*.deb`
# there must find every dependency installed already. Those are the package's own Pre-Depends,
# Depends and Recommends, resolved by apt (`apt-get satisfy`), and nothing else of taskctl's: a
# library the package forgets to declare is missing in the VM, as it would be on a server.
PACKAGES=(
  # a booted Debian 12 server: its kernel, systemd as PID 1, the system bus
  linux-image-cloud-amd64 initramfs-tools systemd-sysv udev dbus
  # what the scenarios use
  python3 procps man-db bash-completion
  # the Slurm test cluster (tests/shared-scenarios/slurm.sh; issue 17)
  munge slurmctld slurmd slurm-client iproute2
)
# One dependency string: the three fields joined by commas.
DEPENDS=$(dpkg-deb -f "$DEB" Pre-Depends Depends Recommends | sed -n 's/^[A-Za-z-]*: //p' | paste -sd, | tr -s ' ')

# The root: debootstrap, then apt in a chroot (bookworm with its updates, as a server has it).
build_root() {
  local root=$1 log=$2 t
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >>"$log" 2>&1 || return 1
  cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY_MIRROR bookworm-security main
EOF
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # No service starts in the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc" && MOUNTS+=("$root/proc")
  mount -t sysfs sys "$root/sys" && MOUNTS+=("$root/sys")
  mount --bind /dev "$root/dev" && MOUNTS+=("$root/dev")
  mount --bind /dev/pts "$root/dev/pts" && MOUNTS+=("$root/dev/pts")
  chroot "$root" env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -q && apt-get install -y -q --no-install-recommends "$@"' apt "${PACKAGES[@]}" >>"$log" 2>&1 ||
    return 1
  if [ -n "$DEPENDS" ]; then
    chroot "$root" env DEBIAN_FRONTEND=noninteractive \
      apt-get satisfy -y -q --no-install-recommends "$DEPENDS" >>"$log" 2>&1 || return 1
  fi
  umount "$root/dev/pts" "$root/dev" "$root/sys" "$root/proc"; MOUNTS=()
  rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
  # Offline from here: apt knows only what is installed.
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/*
  chroot "$root" passwd -d root >/dev/null
  echo taskctl-vm >"$root/etc/hostname"
  echo 'LABEL=taskctl-vm / ext4 defaults 0 1' >"$root/etc/fstab"
  # The input disk of each run: the package, the scenarios, guest.sh.
  echo 'LABEL=taskctl-vm-in /opt/taskctl-vm ext4 ro,nofail,x-systemd.device-timeout=30s 0 2' >>"$root/etc/fstab"
  mkdir -p "$root/opt/taskctl-vm"
  # Not a first boot (no firstboot questions on the console).
  chroot "$root" systemd-machine-id-setup >/dev/null 2>&1
  # The Slurm daemons start only in the scenarios that configure a cluster (slurm.sh's
  # slurm_up): not at boot, where munge would start with the key its postinst made.
  chroot "$root" systemctl disable --quiet munge.service slurmctld.service slurmd.service >>"$log" 2>&1
  # Nothing periodic wakes up during a run.
  for t in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$t"
  done
  # Once the system is up: the scenarios, their output on the second serial port (ttyS1, the
  # host's output.log), then power off whatever happened.
  cat >"$root/etc/systemd/system/taskctl-vm.service" <<'EOF'
[Unit]
Description=taskctl VM suite: run the scenarios on the input disk, then power off
After=multi-user.target
RequiresMountsFor=/opt/taskctl-vm
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=exec
ExecStart=/bin/bash /opt/taskctl-vm/guest.sh
Environment=HOME=/root LANG=C.UTF-8
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS1
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
EOF
  ln -sf /etc/systemd/system/taskctl-vm.service "$root/etc/systemd/system/multi-user.target.wants/"
}

# The key covers the recipe (the function above, as bash prints it) and the package list.
KEY=$( { declare -f build_root; echo "$MIRROR $SECURITY_MIRROR"; echo "${PACKAGES[*]}"; echo "$DEPENDS"; } |
      sha256sum | cut -c1-16)
IMAGE=$CACHE/image-$KEY
image_failed() {
  RESULTS+=("FAIL: image: $*")
  echo "vm: FAIL: the base image could not be built: $*" >&2
  if [ -f "$IMAGE_TMP/build.log" ]; then
    echo "--- image build log (last 30 lines) ---" >&2
    tail -n 30 "$IMAGE_TMP/build.log" >&2
  fi
  FAILED=1
  exit 1
}
t=$SECONDS
if [ -f "$IMAGE/disk.img" ] && [ -f "$IMAGE/vmlinuz" ] && [ -f "$IMAGE/initrd.img" ]; then
  IMAGE_TIME=cached
else
  say "building the base image $IMAGE from $MIRROR (debootstrap; a few minutes)"
  IMAGE_TMP=$IMAGE.tmp
  rm -rf "$IMAGE_TMP"; mkdir -p "$IMAGE_TMP"
  { echo "${PACKAGES[*]}"; echo "$DEPENDS"; } >"$IMAGE_TMP/packages"
  build_root "$IMAGE_TMP/root" "$IMAGE_TMP/build.log" 9>&- || image_failed "debootstrap or apt-get failed"
  root=$IMAGE_TMP/root
  cp "$(ls "$root"/boot/vmlinuz-* | tail -n 1)" "$IMAGE_TMP/vmlinuz" || image_failed "no kernel in the image"
  cp "$(ls "$root"/boot/initrd.img-* | tail -n 1)" "$IMAGE_TMP/initrd.img" || image_failed "no initrd in the image"
  # Room for the scenarios: the file is sparse, and each run writes to a snapshot of it.
  size=$(( $(du -sm "$root" | cut -f1) + 2048 ))
  truncate -s "${size}M" "$IMAGE_TMP/disk.img"
  mke2fs -q -t ext4 -L taskctl-vm -d "$root" "$IMAGE_TMP/disk.img" >>"$IMAGE_TMP/build.log" 2>&1 ||
    image_failed "mke2fs -d failed"
  rm -rf "$root"
  # Images of other keys are stale: keep only this one.
  for other in "$CACHE"/image-*; do
    [ "$other" = "$IMAGE_TMP" ] || rm -rf "$other"
  done
  mv "$IMAGE_TMP" "$IMAGE"
  IMAGE_TMP=
  IMAGE_TIME="built in $((SECONDS - t))s"
fi
say "base image $IMAGE ($IMAGE_TIME)"

# --- the input disk: the package, the scenarios, the README, the guest's runner ------------------
mkdir -p "$S/in"
cp "$DEB" "$S/in/"
cp -r "$HERE/scenarios" "$S/in/"
cp "$SHARED"/*.sh "$S/in/scenarios/"
cp "$HERE/guest.sh" "$S/in/guest.sh"
# The readme scenario runs README.md's blocks as they are today, read by tests/readme-blocks.
mkdir -p "$S/in/readme"
cp "$REPO/README.md" "$REPO/tests/readme-blocks" "$S/in/readme/"
{
  echo "SCENARIOS='${SCENARIOS[*]}'"
  echo "SCENARIO_TIMEOUT=$SCENARIO_TIMEOUT"
} >"$S/in/env"
size=$(( $(du -sm "$S/in" | cut -f1) + 32 ))
truncate -s "${size}M" "$S/in.img"
mke2fs -q -t ext4 -L taskctl-vm-in -d "$S/in" "$S/in.img" || die "mke2fs of the input disk failed"

# --- boot and run --------------------------------------------------------------------------------
# ttyS0: the console (kernel, systemd) to console.log; ttyS1: what guest.sh prints, to
# output.log, read here as it grows. -snapshot: the base image is never written.
: >"$S/console.log"; : >"$S/output.log"
say "booting Debian 12 under qemu ($ACCEL); scenarios: ${SCENARIOS[*]}"
boot_started=$SECONDS
timeout -k 10 "$TOTAL_TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -cpu max -m 2048 -smp 2 \
    -display none -monitor none -no-reboot -nic none -snapshot -pidfile "$S/qemu.pid" \
    -serial "file:$S/console.log" -serial "file:$S/output.log" \
    -kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initrd.img" \
    -append "root=LABEL=taskctl-vm rw console=ttyS0 quiet loglevel=3 panic=-1 systemd.unified_cgroup_hierarchy=1" \
    -drive "file=$IMAGE/disk.img,format=raw,if=virtio" \
    -drive "file=$S/in.img,format=raw,if=virtio" </dev/null 9>&- &
QEMU=$!

# guest.sh's protocol: "@@ up UPTIME" when it starts, one "@@ PASS: ..." or "@@ FAIL: ..." line
# per scenario (everything else is the scenarios' own output, shown as it comes), "@@ end" last.
ENDED=
UP=
while IFS= read -r line; do
  line=${line%$'\r'}
  case $line in
    "@@ up "*)
      UP=$((SECONDS - boot_started))
      say "VM up after ${UP}s (guest uptime ${line#@@ up }s)";;
    "@@ PASS: "*|"@@ FAIL: "*)
      line=${line#@@ }; RESULTS+=("$line"); echo "$line"; [[ $line == PASS:* ]] || FAILED=1;;
    "@@ end"*) ENDED=1;;
    *) echo "$line";;
  esac
done < <(tail -n +1 -F --pid="$QEMU" "$S/output.log" 2>/dev/null 9>&-)
rc=0; wait "$QEMU" || rc=$?
QEMU=
run_time=$((SECONDS - boot_started))

if [ -z "$ENDED" ]; then
  FAILED=1
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    RESULTS+=("FAIL: vm: not done after ${TOTAL_TIMEOUT}s (TASKCTL_VM_TIMEOUT)")
  elif [ -z "$UP" ]; then
    RESULTS+=("FAIL: boot: the VM never ran the scenarios (qemu exit $rc)")
  else
    RESULTS+=("FAIL: vm: the VM stopped before the scenarios ended (qemu exit $rc)")
  fi
  echo "--- console (last 40 lines) ---" >&2
  tr -d '\r' <"$S/console.log" | tail -n 40 >&2
fi
# Every scenario asked for has its line.
for name in "${SCENARIOS[@]}"; do
  printf '%s\n' "${RESULTS[@]}" | grep -q "^[A-Z]*: $name " ||
    { RESULTS+=("FAIL: $name (did not run)"); FAILED=1; }
done
say "package ${DEB_TIME}; image ${IMAGE_TIME}; boot to the first scenario ${UP:-?}s;" \
    "boot, scenarios and poweroff ${run_time}s; total $((SECONDS - T0))s"
exit $FAILED
