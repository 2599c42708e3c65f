#!/bin/bash
# Issue 17, acceptance 1 and 2, in both suites (the container on cgroup v1, the Debian 12 VM on
# cgroup v2): a taskctl queue with runner = "slurm" on the real test cluster (slurm.sh: munge,
# slurmctld, two slurmd). Tasks of a real unprivileged user become Slurm jobs of that user and
# end with their real exit codes; --memory is Slurm's --mem (oom, 137); --timeout is the
# daemon's own timer carried out with scancel (124); cancel ends the job (130); a restart of
# taskctld keeps running jobs and their codes; a restart of slurmctld marks none lost; every
# Slurm command the daemon runs is counted (the queue's bin_dir is the counting wrappers):
# sbatch once per task, squeue at most once per query_interval while jobs live, none idle.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slurm.sh"

user=taskctl-sq-$$
useradd -M -d /nonexistent -s /bin/sh "$user" || fail "useradd $user failed"
conf=/etc/taskctl/taskctld.toml
saved=
if [ -e "$conf" ]; then saved=$WORK/taskctld.toml.orig; cp -p "$conf" "$saved"; fi
shared=/var/tmp/taskctl-slurm-shared-$$
slurm_up
dropin=/etc/systemd/system/taskctld.service.d/slurm-test.conf
cleanup() {
  if [ -n "$saved" ]; then cp -p "$saved" "$conf"; else rm -f "$conf"; fi
  rm -f "$dropin"; rmdir /etc/systemd/system/taskctld.service.d 2>/dev/null || true
  systemctl daemon-reload
  # Back to the package's configuration before the cluster goes: a start checks Slurm queues.
  systemctl restart taskctld.service 2>/dev/null || true
  slurm_down
  userdel "$user" 2>/dev/null || true
  rm -rf "$shared" "$WORK"
}
trap cleanup EXIT
install -d -m 0755 "$shared"
cbin=$WORK/slurm-bin
calls=$WORK/slurm-calls.log
slurm_counting_bin "$cbin" "$calls"
interval=1  # query_interval, in seconds
cat >"$conf" <<EOF
[queues.cluster]
concurrency = 40
runner = "slurm"
[queues.cluster.slurm]
partition = "$SLURM_PARTITION"
shared_dir = "$shared"
query_interval = "${interval}s"
bin_dir = "$cbin"
# A queue whose every job sbatch refuses: an option it does not know.
[queues.refusing]
runner = "slurm"
[queues.refusing.slurm]
shared_dir = "$shared"
sbatch_options = ["--no-such-option"]
EOF
# The packaged unit denies the daemon (and so its sbatch) any IP traffic (IPAddressDeny=any):
# a Slurm queue needs its controller allowed, as docs/slurm.md tells an operator to do.
# On cgroup v1 (the container) systemd cannot enforce it; on v2 (the VM) it does.
mkdir -p "$(dirname "$dropin")"
printf '[Service]\nIPAddressAllow=localhost\n' >"$dropin"
systemctl daemon-reload
up
systemctl restart taskctld.service || fail "taskctld did not start with a slurm queue"
until_ok 30 is_active taskctld.service || fail "taskctld is not active after its restart"

TU() { (cd /tmp && runuser -u "$user" -- taskctl "$@"); }
job_of() { T status --json "$1" | json attempts "${2:-0}" slurm_job_id; }
# wait_rc ID: what `taskctl wait` exits with for the task (as its owner).
wait_rc() { local rc=0; TU wait "$1" >/dev/null || rc=$?; echo "$rc"; }
running() { [ "$(T status --json "$1" | json state)" = running ]; }

# 1. Twenty tasks with their own exit codes: each a Slurm job of the user, named after the task.
ids=()
for i in $(seq 0 19); do ids+=("$(TU submit --queue cluster -- sh -c "exit $i")"); done
for i in $(seq 0 19); do
  id=${ids[$i]}
  rc=$(wait_rc "$id")
  [ "$rc" = "$i" ] || fail "task $id (exit $i) waited $rc: $(T status "$id")"
  job=$(job_of "$id")
  [ "$job" != None ] || fail "task $id has no Slurm job id: $(T status --json "$id")"
  [ "$(slurm_job_field "$job" JobName)" = "taskctl-$id-1" ] ||
    fail "job $job is named $(slurm_job_field "$job" JobName), want taskctl-$id-1"
  [ "$(slurm_job_field "$job" UserId)" = "$user($(id -u "$user"))" ] ||
    fail "job $job belongs to $(slurm_job_field "$job" UserId), want $user"
done
T status "${ids[3]}" | grep -Eq "slurm job: +$(job_of "${ids[3]}") on " ||
  fail "status does not show the Slurm job and node: $(T status "${ids[3]}")"
echo "20 tasks: each a job of $user with its own exit code"

# 2. Memory: --memory 50M is --mem=50M; 200 MB allocated ends oom, 137.
oom=$(TU submit --queue cluster --memory 50M -- \
        python3 -c 'import time; x = bytearray(200 * 1024 * 1024); time.sleep(30)')
rc=$(wait_rc "$oom")
[ "$rc" = 137 ] && [ "$(T status --json "$oom" | json reason)" = oom ] ||
  fail "the 50M task allocating 200 MB waited $rc: $(T status "$oom")"
echo "memory: oom, 137 ($SLURM_MEMORY_ENFORCEMENT enforcement)"

# 3. Timeout: the daemon's own timer (3 s), carried out with scancel; TERM ends sleep at once,
# so the end is within the timeout, a query interval and some slack (never the 10 s grace).
t0=$(date +%s%N)
to=$(TU submit --queue cluster --timeout 3s -- sleep 120)
rc=$(wait_rc "$to")
took=$(( ($(date +%s%N) - t0) / 1000000 ))  # ms
[ "$rc" = 124 ] && [ "$(T status --json "$to" | json reason)" = timeout ] ||
  fail "the 3 s timeout task waited $rc: $(T status "$to")"
[ "$took" -lt $(( (3 + interval + 6) * 1000 )) ] || fail "the 3 s timeout took ${took} ms"
echo "timeout: 124 after ${took} ms"

# 4. Cancel of a running task: 130, and its job leaves squeue.
c=$(TU submit --queue cluster -- sleep 300)
until_ok 30 running "$c" || fail "task $c is not running: $(T status "$c")"
job=$(job_of "$c")
TU cancel "$c" >/dev/null || fail "cancel $c failed"
rc=$(wait_rc "$c")
[ "$rc" = 130 ] || fail "the cancelled task waited $rc: $(T status "$c")"
until_ok 20 sh -c "[ -z \"\$(squeue -h -j $job -t PENDING,RUNNING,SUSPENDED,COMPLETING -o %i 2>/dev/null)\" ]" ||
  fail "job $job of the cancelled task is still in squeue: $(squeue -h -j "$job")"
echo "cancel: 130, job $job gone from squeue"

# 5. A restart of taskctld with 5 jobs running keeps all 5, with their real codes.
ids=()
for i in 1 2 3 4 5; do ids+=("$(TU submit --queue cluster -- sh -c "sleep 8; exit $((40 + i))")"); done
for id in "${ids[@]}"; do until_ok 30 running "$id" || fail "task $id is not running: $(T status "$id")"; done
systemctl restart taskctld.service || fail "taskctld did not restart"
until_ok 30 is_active taskctld.service || fail "taskctld is not active after its restart"
for i in 1 2 3 4 5; do
  id=${ids[$((i - 1))]}
  rc=$(wait_rc "$id")
  [ "$rc" = $((40 + i)) ] || fail "task $id (exit $((40 + i))) waited $rc after a taskctld restart: $(T status "$id")"
  [ "$(T status --json "$id" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["attempts"]))')" = 1 ] ||
    fail "task $id ran more than once across the restart: $(T status "$id")"
done
echo "taskctld restart: 5 running jobs kept, codes 41-45"

# 6. A restart of slurmctld while jobs run marks none lost.
ids=()
for i in 1 2 3; do ids+=("$(TU submit --queue cluster -- sh -c 'sleep 6; exit 7')"); done
for id in "${ids[@]}"; do until_ok 30 running "$id" || fail "task $id is not running"; done
systemctl restart slurmctld.service || slurm_fail "slurmctld did not restart"
for id in "${ids[@]}"; do
  rc=$(wait_rc "$id")
  [ "$rc" = 7 ] || fail "task $id waited $rc across a slurmctld restart: $(T status "$id")"
done
echo "slurmctld restart: no task lost"

# 7. Counting: 100 tasks (30 in the VM, where software emulation makes every Slurm command take
# about a second); sbatch once each, squeue at most once per interval while any is live; then
# 10 s with nothing live and not one call.
count=100
[ "${SUITE:-}" != vm ] || count=30
: >"$calls"
t0=$SECONDS
ids=()
for _ in $(seq "$count"); do ids+=("$(TU submit --queue cluster -- true)"); done
for id in "${ids[@]}"; do rc=$(wait_rc "$id"); [ "$rc" = 0 ] || fail "task $id waited $rc: $(T status "$id")"; done
took=$((SECONDS - t0 + 1))
sbatch_n=$(slurm_calls "$calls" sbatch); squeue_n=$(slurm_calls "$calls" squeue)
echo "$count tasks in ${took}s: sbatch $sbatch_n, squeue $squeue_n, scontrol $(slurm_calls "$calls" scontrol)"
[ "$sbatch_n" -le "$count" ] || fail "sbatch ran $sbatch_n times for $count tasks"
[ "$squeue_n" -le $((took / interval + 1)) ] || fail "squeue ran $squeue_n times in ${took}s at one per ${interval}s"
sleep 1  # the last answered query's turn
: >"$calls"
sleep 10
[ ! -s "$calls" ] || fail "Slurm commands with nothing live: $(cat "$calls")"

# 8. A job sbatch refuses: failed, spawn, with sbatch's words.
r=$(TU submit --queue refusing -- true)
rc=$(wait_rc "$r")
msg=$(T status --json "$r" | json message)
[ "$(T status --json "$r" | json reason)" = spawn ] && [ "$rc" = 125 ] &&
  [[ $msg == *"sbatch refused the job (queue refusing): "*"unrecognized option '--no-such-option'"* ]] ||
  fail "a job Slurm refuses: wait $rc, $(T status "$r")"

# 9. A reload naming a partition Slurm does not know: refused with the queue's name, and the
# old configuration goes on running tasks.
refusals() { journalctl -u taskctld.service -o cat | grep -c 'queue cluster: Slurm does not know partition nope' || true; }
n=$(refusals)
sed -i "s/^partition = .*/partition = \"nope\"/" "$conf"
systemctl reload taskctld.service || fail "systemctl reload failed"
until_ok 20 sh -c "[ \$(journalctl -u taskctld.service -o cat | grep -c 'queue cluster: Slurm does not know partition nope') -gt $n ]" ||
  fail "a reload with an unknown partition was not refused: $(journalctl -u taskctld.service -o cat | tail -5)"
rc=$(wait_rc "$(TU submit --queue cluster -- true)")
[ "$rc" = 0 ] || fail "after a refused reload the queue ran a task to $rc"

# 10. Progress and heartbeats from a job on the daemon's own host reach the attempt's notify
# socket (docs/slurm.md: not from another node).
p=$(TU submit --queue cluster --heartbeat 5s -- \
      sh -c 'taskctl progress 0.5 halfway; for i in 1 2 3 4 5; do systemd-notify WATCHDOG=1; sleep 1; done')
rc=$(wait_rc "$p")
[ "$rc" = 0 ] || fail "a task sending heartbeats every second under --heartbeat 5s waited $rc: $(T status "$p")"
[ "$(T status --json "$p" | json attempts 0 progress)" = 0.5 ] || fail "no progress from the job: $(T status "$p")"

# 11. logs -f follows a running task's output on the shared directory.
f=$(TU submit --queue cluster -- sh -c 'for i in 1 2 3; do echo "line $i"; sleep 1; done')
TU logs -f "$f" >"$WORK/follow" || fail "logs -f failed"
[ "$(cat "$WORK/follow")" = "line 1
line 2
line 3" ] || fail "logs -f showed: $(cat "$WORK/follow")"
pass
