#!/bin/bash
# Issue 7, acceptance 2: `apt install ./taskctl_*.deb` on a Debian 12 without network (every
# dependency is already there) leaves the socket listening; with the service stopped (the
# socket stays), an ordinary user's `taskctl submit --wait -- id -u` starts the daemon through
# the socket, exits 0, and the task's log shows that user's uid. Runs first: the other
# scenarios use the package it installs.
. "$(dirname "$0")/lib.sh"
[ "$(ls /sys/class/net)" = lo ] || fail "the VM has a network ($(ls /sys/class/net | tr '\n' ' ')): the install must be offline"
deb=$(ls taskctl_*.deb | head -n 1)
DEBIAN_FRONTEND=noninteractive apt-get install -y "./$deb" >"$WORK/apt.log" 2>&1 ||
  { cat "$WORK/apt.log"; fail "apt-get install ./$deb failed"; }
echo "installed $(dpkg-query -W -f='${Package} ${Version}' taskctl)"
until_ok 30 is_active taskctld.socket || fail "taskctld.socket is $(systemctl is-active taskctld.socket) after the install"
[ -S $SOCK ] || fail "$SOCK is not a socket"
[ "$(stat -c %a $SOCK)" = 666 ] || fail "$SOCK has mode $(stat -c %a $SOCK), want 666"

systemctl stop taskctld.service
is_active taskctld.socket || fail "stopping the service stopped the socket"
[ "$(systemctl is-active taskctld.service)" = inactive ] || fail "taskctld.service did not stop"

id -u alice >/dev/null 2>&1 || useradd -m alice
out=$(runuser -u alice -- taskctl submit --wait -- id -u) || fail "submit --wait as alice exited $?: $out"
id=$(echo "$out" | head -n 1)
is_active taskctld.service || fail "the submit did not start taskctld.service"
[ "$(runuser -u alice -- taskctl logs "$id")" = "$(id -u alice)" ] ||
  fail "logs of task $id: '$(runuser -u alice -- taskctl logs "$id")', want alice's uid $(id -u alice)"
pass
