# The Slurm test cluster of the container suite and the VM suite (issue 17; docs/slurm.md says
# what it is and why it is configured so). Not a scenario: container.sh and vm.sh copy it next
# to the scenarios and skip it in their runs. A scenario sources it after its lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/slurm.sh"
#   slurm_up                     # munge, slurmctld, slurmd of one node, partition `debug`
#   runuser -u USER -- sbatch ...
#   pass                         # slurm_down runs at exit: jobs cancelled, daemons stopped,
#                                # every file slurm_up wrote removed
#
# The cluster is this one host with two nodes: slurmctld and two slurmd (Debian builds Slurm
# with multiple-slurmd support: `slurmd -N NODE`, one port each) are services of the
# container's or the VM's systemd, talking over 127.0.0.1, munge with a key written here. The
# two nodes share the host's CPUs (each offers all of them) and split its memory. The packages come from
# scripts/deps (the container boots this machine's root) or the VM image's package list.
#
# After slurm_up: SLURM_NODES (the nodes' names: the short hostname, then HOSTNAME-2),
# SLURM_NODE (the first), SLURM_SLURMD_UNITS (their units, slurmd@NODE.service), SLURM_PARTITION
# (debug, both nodes), SLURM_CPUS, SLURM_MEMORY_MB (what each node offers), SLURM_PROCTRACK (proctrack/cgroup or
# proctrack/linuxproc), SLURM_MEMORY_ENFORCEMENT (how --mem is enforced: "cgroup" for
# task/cgroup's ConstrainRAMSpace, "jobacct" for jobacct_gather/linux's OverMemoryKill), and
# SLURM_UP_SECONDS (how long the start took).
#
# slurm_counting_bin DIR LOG: wrappers for sbatch, squeue, scancel, scontrol and sacct in DIR
# that add one line per call to LOG (the command's name and its arguments) and run the real
# one from /usr/bin; a taskctl queue's `bin_dir = "DIR"` makes every call of the daemon
# countable (`slurm_calls LOG squeue` counts them).

SLURM_PARTITION=debug
SLURM_CONF=/etc/slurm/slurm.conf
SLURM_CGROUP_CONF=/etc/slurm/cgroup.conf
SLURM_MUNGE_KEY=/etc/munge/munge.key
# What the cluster's daemons keep between starts (the Debian packages' own directories): emptied
# by slurm_up and slurm_down, so no scenario sees another's jobs or node state.
SLURM_STATE_DIRS=(/var/lib/slurm/slurmctld /var/lib/slurm/slurmd)
# One slurmd per node: a template of Debian's slurmd.service with `-N NODE`.
SLURMD_TEMPLATE=/etc/systemd/system/slurmd@.service
SLURM_STARTED=
# The seconds an ended job stays visible to `squeue --states=all` and `scontrol show job`
# (MinJobAge): longer than any scenario, which reads end states well after the job ends.
SLURM_MIN_JOB_AGE=600

slurm_log() { echo "slurm: $*"; }

# The daemons' own words, printed with a failure of the cluster.
slurm_diagnose() {
  echo "--- systemctl status munge slurmctld slurmd@*"
  systemctl status --no-pager --lines=0 munge.service slurmctld.service 'slurmd@*.service' 2>&1 || true
  echo "--- journal of munge, slurmctld, slurmd@* (last 40 lines)"
  journalctl -u munge.service -u slurmctld.service -u 'slurmd@*.service' --no-pager -n 40 2>&1 || true
  echo "--- sinfo"
  timeout 10 sinfo -N -l 2>&1 || true
}
slurm_fail() { slurm_diagnose >&2; fail "$@"; }

# How cgroups are laid out here: "v2" (the unified hierarchy alone, the VM), "v1" (the legacy
# controllers, the container on this cgroup v1 hybrid host), or "" if the memory controller is
# not writable (then Slurm cannot confine a job's memory with cgroups).
slurm_cgroup_mode() {
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    grep -qw memory /sys/fs/cgroup/cgroup.controllers && echo v2
  elif [ -w /sys/fs/cgroup/memory ] && [ -w /sys/fs/cgroup/freezer ] && [ -w /sys/fs/cgroup/cpuset ]; then
    echo v1
  fi
  return 0
}

slurm_write_conf() {
  local host=$1 cgmode=$2 cpus mem
  # The node as slurmd sees it (CPUs and RealMemory in MB), a little memory kept back: a
  # node whose RealMemory is more than slurmd finds is drained as invalid.
  read -r cpus mem < <(slurmd -C | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "=");
      if (kv[1] == "CPUs") c = kv[2]; if (kv[1] == "RealMemory") m = kv[2] } } END { print c, m }')
  [ -n "$cpus" ] && [ -n "$mem" ] || slurm_fail "slurmd -C did not say the node's CPUs and memory: $(slurmd -C 2>&1)"
  SLURM_CPUS=$cpus
  SLURM_MEMORY_MB=$((mem * 9 / 10 / 2))
  local proctrack task jobacct jobacct_params=""
  if [ -n "$cgmode" ]; then
    SLURM_PROCTRACK=proctrack/cgroup
    task=task/cgroup
    jobacct=jobacct_gather/cgroup
    SLURM_MEMORY_ENFORCEMENT=cgroup
  else
    # No writable cgroups: processes tracked by their parentage, memory by polling each job's
    # processes (every 2 s) and killing a job over its --mem.
    SLURM_PROCTRACK=proctrack/linuxproc
    task=task/none
    jobacct=jobacct_gather/linux
    jobacct_params="JobAcctGatherParams=OverMemoryKill"
    SLURM_MEMORY_ENFORCEMENT=jobacct
  fi
  mkdir -p /etc/slurm
  cat >"$SLURM_CONF" <<EOF
# Written by tests/shared-scenarios/slurm.sh (slurm_up) for one scenario; slurm_down removes it.
# A single-host test cluster: see docs/slurm.md, "The test cluster".
ClusterName=taskctl-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd/%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
# No log files: the daemons run in the foreground under systemd, their logs go to the journal.
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
ReturnToService=2
# Each core shared by up to 8 jobs (the partition's OverSubscribe) and memory a consumable
# resource: many small jobs run at once on a 2-CPU machine, and --mem is what a job gets.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
ProctrackType=$SLURM_PROCTRACK
TaskPlugin=$task
JobAcctGatherType=$jobacct
JobAcctGatherFrequency=task=2
$jobacct_params
# No slurmdbd: sacct has no data, and taskctl takes CPU time and peak memory from its shim.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Ended jobs stay visible to squeue --states=all and scontrol show job this long (seconds).
MinJobAge=$SLURM_MIN_JOB_AGE
# scancel's TERM, then KILL this many seconds later (and at a --time limit).
KillWait=5
# A submitted job is scheduled at once, not up to 3 s later (Slurm's default, made for clusters
# flooded with submits): a job starts about 1 s after sbatch, or after scontrol release.
SchedulerParameters=batch_sched_delay=0
# A restarted slurmctld finds the node (and its jobs) at once.
SlurmctldTimeout=30
SlurmdTimeout=60
# Two nodes on this one host (multiple-slurmd): the same NodeHostname, a port each.
NodeName=${SLURM_NODES[0]} NodeHostname=$host NodeAddr=127.0.0.1 Port=6828 CPUs=$SLURM_CPUS RealMemory=$SLURM_MEMORY_MB State=UNKNOWN
NodeName=${SLURM_NODES[1]} NodeHostname=$host NodeAddr=127.0.0.1 Port=6829 CPUs=$SLURM_CPUS RealMemory=$SLURM_MEMORY_MB State=UNKNOWN
PartitionName=$SLURM_PARTITION Nodes=${SLURM_NODES[0]},${SLURM_NODES[1]} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
  cat >"$SLURMD_TEMPLATE" <<'EOF'
# Written by tests/shared-scenarios/slurm.sh (slurm_up); slurm_down removes it. Debian's
# slurmd.service for one node of several on this host (multiple-slurmd): slurmd -N NODE.
[Unit]
Description=Slurm node daemon of node %i
After=munge.service network-online.target remote-fs.target
ConditionPathExists=/etc/slurm/slurm.conf
[Service]
Type=simple
ExecStart=/usr/sbin/slurmd -D -s -N %i
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
LimitNOFILE=131072
LimitMEMLOCK=infinity
LimitSTACK=infinity
Delegate=yes
TasksMax=infinity
EOF
  systemctl daemon-reload
  if [ -n "$cgmode" ]; then
    cat >"$SLURM_CGROUP_CONF" <<EOF
# Written by tests/shared-scenarios/slurm.sh (slurm_up); slurm_down removes it.
CgroupPlugin=autodetect
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
ConstrainCores=no
ConstrainDevices=no
EOF
  fi
}

# Slurm resolves every address, 127.0.0.1 included, with getaddrinfo(AI_ADDRCONFIG), which
# finds nothing on a machine whose only IPv4 address is loopback's: the container (nspawn
# --private-network) and the VM (no NIC) are such machines. An address of the documentation
# range (192.0.2.0/24, never routed) on lo is enough; slurm_down takes it away.
SLURM_LO_ADDR=192.0.2.17/32
SLURM_LO_ADDED=
slurm_net_up() {
  ip link set lo up || fail "ip link set lo up failed"
  if [ -z "$(ip -4 -o addr show scope global)" ]; then
    ip addr add "$SLURM_LO_ADDR" dev lo || fail "ip addr add $SLURM_LO_ADDR dev lo failed"
    SLURM_LO_ADDED=1
    slurm_log "no IPv4 address but loopback's: $SLURM_LO_ADDR added to lo for getaddrinfo(AI_ADDRCONFIG)"
  fi
}

# slurm_up: the cluster running, its node idle, or the scenario fails with the daemons' journal.
slurm_up() {
  local t0=$SECONDS host cgmode
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
    command -v munged >/dev/null || fail "Slurm is not installed (scripts/deps, or the VM image's package list)"
  [ ! -e "$SLURM_CONF" ] || fail "$SLURM_CONF exists already: another cluster is configured here"
  SLURM_STARTED=1
  trap 'slurm_down; rm -rf "$WORK"' EXIT
  host=$(hostname -s)
  SLURM_NODES=("$host" "$host-2")
  SLURM_NODE=$host
  SLURM_SLURMD_UNITS=("slurmd@$host.service" "slurmd@$host-2.service")
  slurm_net_up
  cgmode=$(slurm_cgroup_mode)
  slurm_write_conf "$host" "$cgmode"
  slurm_log "node $host: $SLURM_CPUS CPUs, ${SLURM_MEMORY_MB} MB; cgroups ${cgmode:-not writable};" \
            "$SLURM_PROCTRACK; --mem enforced by $SLURM_MEMORY_ENFORCEMENT"
  # A key of this run's own, in place of the one munge's postinst made (kept, put back by down).
  if [ -e "$SLURM_MUNGE_KEY" ] && [ ! -e "$SLURM_MUNGE_KEY.slurm-test-saved" ]; then
    mv "$SLURM_MUNGE_KEY" "$SLURM_MUNGE_KEY.slurm-test-saved"
  fi
  install -d -o munge -g munge -m 0700 /etc/munge
  head -c 1024 /dev/urandom >"$SLURM_MUNGE_KEY"
  chown munge:munge "$SLURM_MUNGE_KEY"; chmod 0400 "$SLURM_MUNGE_KEY"
  local d
  for d in "${SLURM_STATE_DIRS[@]}"; do
    install -d -o slurm -g slurm -m 0755 "$d"
    find "$d" -mindepth 1 -delete
  done
  for d in "${SLURM_NODES[@]}"; do install -d -m 0755 "/var/lib/slurm/slurmd/$d"; done
  systemctl restart munge.service || slurm_fail "munge did not start"
  munge -n | unmunge >/dev/null || slurm_fail "munge: a credential does not decode"
  systemctl start slurmctld.service || slurm_fail "slurmctld did not start"
  systemctl start "${SLURM_SLURMD_UNITS[@]}" || slurm_fail "slurmd did not start"
  slurm_wait_idle 60 || slurm_fail "the nodes ${SLURM_NODES[*]} are not idle 60 s after the start"
  SLURM_UP_SECONDS=$((SECONDS - t0))
  slurm_log "cluster up in ${SLURM_UP_SECONDS}s"
}

# slurm_wait_idle SECONDS: until both nodes are idle (true), or false after SECONDS.
slurm_wait_idle() {
  local deadline=$((SECONDS + $1))
  until [ "$(timeout 10 sinfo -h -N -t idle -o %N 2>/dev/null | sort -u | wc -l)" = 2 ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# slurm_job_field JOBID FIELD: one field of `scontrol show job` (JobState, ExitCode, UserId, ...).
slurm_job_field() {
  timeout 10 scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
# slurm_wait_state JOBID SECONDS STATE...: until the job is in one of STATEs; false after SECONDS.
slurm_wait_state() {
  local id=$1 deadline=$((SECONDS + $2)) s want; shift 2
  while :; do
    s=$(slurm_job_field "$id" JobState)
    for want in "$@"; do [ "$s" = "$want" ] && return 0; done
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

# slurm_down: every job cancelled, the daemons stopped, what slurm_up wrote removed and the
# saved munge key put back. Runs at the scenario's exit once slurm_up has started.
slurm_down() {
  [ -n "$SLURM_STARTED" ] || return 0
  SLURM_STARTED=
  local jobs
  if systemctl -q is-active slurmctld.service; then
    timeout 10 scancel --full --signal=KILL --state=RUNNING 2>/dev/null || true
    timeout 10 scancel --state=PENDING 2>/dev/null || true
    timeout 10 scancel --state=SUSPENDED 2>/dev/null || true
    # slurmd's unit has KillMode=process: its job steps would outlive it. Bounded wait.
    for _ in $(seq 50); do
      jobs=$(timeout 10 squeue -h -t RUNNING,COMPLETING,SUSPENDED -o %i 2>/dev/null || true)
      [ -n "$jobs" ] || break
      sleep 0.2
    done
    [ -z "${jobs:-}" ] || echo "slurm: jobs still running at the end: $jobs" >&2
  fi
  systemctl stop 'slurmd@*.service' slurmctld.service 2>/dev/null || true
  # On cgroup v2 each slurmd keeps its job steps in a scope of its own, NODE_slurmstepd.scope
  # (slurmstepd.scope with one slurmd per host), held by a `slurmstepd infinity` that outlives
  # slurmd: stopping the scopes ends them.
  systemctl stop 'slurmstepd.scope' '*_slurmstepd.scope' 2>/dev/null || true
  # The slice systemd made for the template's instances.
  systemctl stop system-slurmd.slice 2>/dev/null || true
  systemctl stop munge.service 2>/dev/null || true
  rm -f "$SLURM_CONF" "$SLURM_CGROUP_CONF" "$SLURM_MUNGE_KEY" "$SLURMD_TEMPLATE"
  systemctl daemon-reload
  if [ -e "$SLURM_MUNGE_KEY.slurm-test-saved" ]; then
    mv "$SLURM_MUNGE_KEY.slurm-test-saved" "$SLURM_MUNGE_KEY"
  fi
  local d
  for d in "${SLURM_STATE_DIRS[@]}"; do [ -d "$d" ] && find "$d" -mindepth 1 -delete; done
  # The cgroup directories Slurm made for its jobs (cgroup v1: /sys/fs/cgroup/CONTROLLER/slurm_NODE
  # with multiple-slurmd, else .../slurm; on v2 they live in slurmstepd.scope, which systemd
  # removes with the last slurmstepd).
  for d in /sys/fs/cgroup/*/slurm /sys/fs/cgroup/*/slurm_*; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  systemctl reset-failed munge.service slurmctld.service 'slurmd@*.service' 2>/dev/null || true
  if [ -n "$SLURM_LO_ADDED" ]; then ip addr del "$SLURM_LO_ADDR" dev lo 2>/dev/null || true; fi
  SLURM_LO_ADDED=
  return 0
}

# slurm_counting_bin DIR LOG: see the top of this file.
slurm_counting_bin() {
  local dir=$1 log=$2 cmd
  mkdir -p "$dir"
  : >"$log"
  chmod 666 "$log"   # the daemon runs sbatch as each task's owner
  for cmd in sbatch squeue scancel scontrol sacct; do
    cat >"$dir/$cmd" <<EOF
#!/bin/sh
# Counting wrapper (tests/shared-scenarios/slurm.sh): one line per call, then the real $cmd.
printf '%s\n' "$cmd \$*" >>"$log"
exec /usr/bin/$cmd "\$@"
EOF
    chmod 755 "$dir/$cmd"
  done
}
# slurm_calls LOG CMD: how many times CMD was called (0 if never).
slurm_calls() { grep -c "^$2\\b" "$1" || true; }
