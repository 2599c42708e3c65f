#!/bin/bash
# An invalid config stops the daemon at start with file:line:column.
. "$(dirname "$0")/lib.sh"
printf '[queues.default]\nconcurrency = "lots"\n' >"$CONFIG"
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" \
    >"$WORK/out.log" 2>&1 || rc=$?
[ $rc != 0 ] || fail "started with an invalid config"
grep -q "$CONFIG:2:15: queues.default.concurrency must be an integer" "$WORK/out.log" ||
  fail "no file:line:column: $(cat "$WORK/out.log")"

# runner and bus take one of a few words, checked at their place in the file too.
printf '[daemon]\nrunner = "scope"\nbus = "session"\n' >"$CONFIG"
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" \
    >"$WORK/bus.log" 2>&1 || rc=$?
[ $rc = 1 ] || fail "a bad bus in the config: exit $rc, want 1: $(cat "$WORK/bus.log")"
grep -q "$CONFIG:3:7: bus must be \"system\" or \"none\"" "$WORK/bus.log" ||
  fail "bad bus: no file:line:column: $(cat "$WORK/bus.log")"

# The same words as flags: a bad one is a usage error (64) naming the flag.
: >"$CONFIG"
bad_flag() {  # bad_flag FLAG VALUE MESSAGE
  local rc=0
  "$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" "$1" "$2" \
      >"$WORK/flag.log" 2>&1 || rc=$?
  [ $rc = 64 ] || fail "$1 $2: exit $rc, want 64: $(cat "$WORK/flag.log")"
  grep -qF -- "$3" "$WORK/flag.log" || fail "$1 $2: $(cat "$WORK/flag.log")"
}
bad_flag --runner fast '--runner must be auto, scope or direct, not "fast"'
bad_flag --bus session '--bus must be system or none, not "session"'
[ ! -e "$TASKCTL_SOCKET" ] || fail "a refused start left a socket"

# A Slurm queue is checked at start (issue 17): no sbatch in its bin_dir, or a Slurm that does
# not answer (here a stand-in scontrol that says what an unreachable controller says), stop the
# start with one line that names the queue. The real cluster's cases (an unknown partition, a
# reload) are in tests/shared-scenarios/slurm-queue.sh.
slurm_conf() {  # slurm_conf BIN_DIR
  printf '[queues.hpc]\nrunner = "slurm"\n[queues.hpc.slurm]\nshared_dir = "%s"\nbin_dir = "%s"\n' \
    "$WORK" "$1" >"$CONFIG"
}
mkdir -p "$WORK/empty" "$WORK/fake"
slurm_conf "$WORK/empty"
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" --runner direct \
    --bus none >"$WORK/slurm.log" 2>&1 || rc=$?
[ $rc = 1 ] || fail "a slurm queue without sbatch: exit $rc, want 1: $(cat "$WORK/slurm.log")"
grep -q "queue hpc: runner = \"slurm\" needs $WORK/empty/sbatch" "$WORK/slurm.log" ||
  fail "no sbatch: $(cat "$WORK/slurm.log")"
printf '#!/bin/sh\nexit 0\n' >"$WORK/fake/sbatch"
printf '#!/bin/sh\necho "slurm_load_partitions: Unable to contact slurm controller (connect failure)" >&2\nexit 1\n' \
  >"$WORK/fake/scontrol"
chmod 755 "$WORK/fake/sbatch" "$WORK/fake/scontrol"
slurm_conf "$WORK/fake"
rc=0
"$BIN/taskctld" --config "$CONFIG" --state-dir "$STATE" --socket "$TASKCTL_SOCKET" --runner direct \
    --bus none >"$WORK/slurm.log" 2>&1 || rc=$?
[ $rc = 1 ] || fail "a slurm queue whose controller does not answer: exit $rc, want 1: $(cat "$WORK/slurm.log")"
grep -qF "queue hpc: Slurm has no default partition or is unreachable (munge or slurmctld down, or the unit's IPAddressDeny= in the way: docs/slurm.md): slurm_load_partitions: Unable to contact slurm controller" \
  "$WORK/slurm.log" || fail "Slurm unreachable at start: $(cat "$WORK/slurm.log")"
[ ! -e "$TASKCTL_SOCKET" ] || fail "a refused start left a socket"
pass
