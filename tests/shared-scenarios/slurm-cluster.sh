#!/bin/bash
# Issue 17: the Slurm test cluster itself, with plain Slurm only (no taskctl), in both suites (the
# container on cgroup v1, the Debian 12 VM on cgroup v2). What taskctl's slurm runner will lean
# on: a job sbatch'ed by an unprivileged user runs as that user and its exit code is in squeue
# --states=all after it ends; `sbatch --hold` waits for `scontrol release`; --mem is enforced
# (a --mem=50M job allocating 200 MB ends OUT_OF_MEMORY); scancel ends a running job; a restart
# of slurmctld keeps a running job running, to its own end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slurm.sh"

slurm_up   # its EXIT trap takes the cluster down; the user joins it below
user=taskctl-slurm-$$
useradd -M -d /nonexistent -s /bin/sh "$user" || fail "useradd $user failed"
trap 'slurm_down; userdel "$user" 2>/dev/null; rm -rf "$WORK"' EXIT
uid=$(id -u "$user")
out=$WORK/out
mkdir -p "$out"; chmod 1777 "$out"

# SBATCH ARGS...: sbatch as the user, from /tmp; prints the job id. SBATCH_EXE: which sbatch.
SBATCH() { (cd /tmp && runuser -u "$user" -- "${SBATCH_EXE:-sbatch}" --parsable --chdir=/tmp "$@"); }
# The counting wrappers (what the taskctl scenarios point a queue's bin_dir at), used for job 1.
cbin=$WORK/slurm-bin
calls=$WORK/slurm-calls.log
slurm_counting_bin "$cbin" "$calls"
# state_of JOBID: what squeue --states=all says of the job: "STATE USER EXIT_CODE". Its
# exit_code is the job's wait status, as waitpid gives it: exit code << 8 | signal.
state_of() { timeout 10 squeue -h --states=all --jobs="$1" -O 'State:.20,UserName:.40,exit_code:.10' | tr -s ' ' | sed 's/^ //'; }
expect_state() {   # expect_state JOBID SECONDS STATE: fails with the job's record if not
  slurm_wait_state "$1" "$2" "$3" ||
    slurm_fail "job $1 is $(slurm_job_field "$1" JobState) after $2 s, want $3: $(scontrol -o show job "$1" 2>&1)"
}

# 1. A job of the user: runs as the user, exit 3, which squeue --states=all reports after the end.
t=$SECONDS
j1=$(SBATCH_EXE=$cbin/sbatch SBATCH --job-name=exit3 --output="$out/j1.out" --wrap 'id -u; id -un; exit 3') ||
  slurm_fail "sbatch as $user refused"
expect_state "$j1" 30 FAILED
[ "$(slurm_job_field "$j1" UserId)" = "$user($uid)" ] || fail "job $j1: UserId $(slurm_job_field "$j1" UserId), want $user($uid)"
[ "$(slurm_job_field "$j1" ExitCode)" = 3:0 ] || fail "job $j1: ExitCode $(slurm_job_field "$j1" ExitCode), want 3:0"
[ "$(state_of "$j1")" = "FAILED $user 768" ] ||
  fail "squeue --states=all says '$(state_of "$j1")' of job $j1, want 'FAILED $user 768' (exit 3)"
[ "$(cat "$out/j1.out")" = "$uid
$user" ] || fail "job $j1 ran as '$(cat "$out/j1.out")', want $uid $user"
echo "exit-3 job: submit to FAILED 3 in $((SECONDS - t))s"
"$cbin/squeue" -h --states=all --jobs="$j1" >/dev/null || fail "the counting squeue failed"
[ "$(slurm_calls "$calls" sbatch)/$(slurm_calls "$calls" squeue)/$(slurm_calls "$calls" scancel)" = 1/1/0 ] ||
  fail "the counting wrappers logged: $(cat "$calls"), want one sbatch and one squeue"

# 2. --hold: pending (held) until scontrol release (by root, as taskctl's daemon releases), then
# runs to COMPLETED, on the second node (both nodes run jobs).
j2=$(SBATCH --hold --job-name=held -w "${SLURM_NODES[1]}" --output=/dev/null --wrap 'exit 0') ||
  slurm_fail "sbatch --hold refused"
sleep 2
[ "$(slurm_job_field "$j2" JobState)" = PENDING ] || fail "held job $j2 is $(slurm_job_field "$j2" JobState), want PENDING"
case $(slurm_job_field "$j2" Reason) in JobHeld*) ;; *) fail "held job $j2: Reason $(slurm_job_field "$j2" Reason), want JobHeldUser";; esac
scontrol release "$j2" || slurm_fail "scontrol release $j2 failed"
expect_state "$j2" 30 COMPLETED
[ "$(slurm_job_field "$j2" NodeList)" = "${SLURM_NODES[1]}" ] || fail "job $j2 ran on $(slurm_job_field "$j2" NodeList)"

# 3. Memory: --mem=50M, 200 MB allocated and held (long enough for a polling enforcement too).
j3=$(SBATCH --mem=50M --job-name=oom --output="$out/j3.out" \
       --wrap 'python3 -c "import time; x = bytearray(200 * 1024 * 1024); time.sleep(20); print(len(x))"') ||
  slurm_fail "sbatch --mem=50M refused"
expect_state "$j3" 30 OUT_OF_MEMORY
echo "--mem=50M job ended OUT_OF_MEMORY (ExitCode $(slurm_job_field "$j3" ExitCode), squeue: $(state_of "$j3"), $SLURM_MEMORY_ENFORCEMENT enforcement)"

# 4. scancel of running jobs (with a --time limit of a minute), their processes gone after it.
# Plain scancel cancels: CANCELLED. `scancel --full --signal=TERM` (taskctl's first step of a
# stop) only signals the job's steps: the job ends by the signal, FAILED with ExitCode 0:15, and
# whoever sent it must remember that it did.
j4=$(SBATCH --time=1 --job-name=long --output=/dev/null --wrap 'exec sleep 300') || slurm_fail "sbatch --time=1 refused"
j4b=$(SBATCH --time=1 --job-name=long-term --output=/dev/null --wrap 'exec sleep 301') || slurm_fail "sbatch --time=1 refused"
expect_state "$j4" 30 RUNNING
expect_state "$j4b" 30 RUNNING
until_ok 10 pgrep -u "$user" -f '^sleep 300$' >/dev/null || fail "job $j4 runs, but no sleep of $user"
until_ok 10 pgrep -u "$user" -f '^sleep 301$' >/dev/null || fail "job $j4b runs, but no sleep of $user"
scancel "$j4" || slurm_fail "scancel $j4 failed"
scancel --full --signal=TERM "$j4b" || slurm_fail "scancel --full --signal=TERM $j4b failed"
expect_state "$j4" 20 CANCELLED
slurm_wait_state "$j4b" 20 FAILED CANCELLED ||
  slurm_fail "job $j4b is $(slurm_job_field "$j4b" JobState) 20 s after its TERM: $(scontrol -o show job "$j4b" 2>&1)"
case $(slurm_job_field "$j4b" ExitCode) in *:15) ;; *) fail "job $j4b: ExitCode $(slurm_job_field "$j4b" ExitCode), want the signal 15";; esac
echo "scancel: $(state_of "$j4") ExitCode $(slurm_job_field "$j4" ExitCode);" \
     "scancel --full --signal=TERM: $(state_of "$j4b") ExitCode $(slurm_job_field "$j4b" ExitCode)" \
     "Reason $(slurm_job_field "$j4b" Reason)"
until_ok 10 sh -c "! pgrep -u $user -x sleep >/dev/null" || fail "a sleep of jobs $j4 $j4b outlived its scancel"
[ -z "$(timeout 10 squeue -h --jobs="$j4,$j4b" -t RUNNING,COMPLETING -o %i)" ] || fail "squeue still lists $j4 or $j4b as running"

# 5. A restart of slurmctld while a job runs: the job goes on and ends with its own code.
j5=$(SBATCH --job-name=survivor --output="$out/j5.out" --wrap 'sleep 8; echo done; exit 0') || slurm_fail "sbatch refused"
expect_state "$j5" 30 RUNNING
t=$SECONDS
systemctl restart slurmctld.service || slurm_fail "systemctl restart slurmctld failed"
until_ok 30 timeout 5 scontrol ping >/dev/null || slurm_fail "slurmctld does not answer 30 s after its restart"
echo "slurmctld restarted, answering after $((SECONDS - t))s"
s=$(slurm_job_field "$j5" JobState)
[ "$s" = RUNNING ] || [ "$s" = COMPLETED ] || slurm_fail "job $j5 is $s after slurmctld's restart, want RUNNING"
expect_state "$j5" 30 COMPLETED
[ "$(cat "$out/j5.out")" = done ] || fail "job $j5 printed '$(cat "$out/j5.out")', want done"
[ "$(slurm_job_field "$j5" ExitCode)" = 0:0 ] || fail "job $j5: ExitCode $(slurm_job_field "$j5" ExitCode), want 0:0"

# Every job of the scenario still visible to squeue --states=all (MinJobAge), none of them lost.
for j in "$j1" "$j2" "$j3" "$j4" "$j4b" "$j5"; do
  [ -n "$(state_of "$j")" ] || fail "squeue --states=all no longer lists job $j"
done
echo "cluster start ${SLURM_UP_SECONDS}s; $SLURM_PROCTRACK; memory by $SLURM_MEMORY_ENFORCEMENT"
pass
