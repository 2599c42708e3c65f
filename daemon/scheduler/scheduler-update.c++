// The Scheduler's `update` (issue 16): a task's limits changed while it runs
// (or before it starts). The daemon's own timer is the task's only timeout
// (no RuntimeMaxUSec on the scope), so a new timeout is a re-armed timer;
// memory, CPU and tasks limits go to the running execution through the
// runner (SetUnitProperties on its scope) before anything is recorded, so a
// refusal from systemd changes nothing. The new limits are the task's from
// then on (its later attempts too), stored with the running attempt, and the
// change is an event ("updated").
#include <kj/debug.h>

#include "common/errors.h"
#include "common/task-words.h"
#include "common/units.h"
#include "scheduler/active.h"
#include "scheduler/task-spec-check.h"

namespace taskctl {

using records::EndReason;
using records::TaskState;

kj::Promise<void> Scheduler::update(uint64_t id, LimitUpdate change) {
  if (change.timeoutUsec == 0 && change.cpuQuotaPerSecUsec == 0 && change.memoryMaxBytes == 0 &&
      change.tasksMax == 0) {
    refuse(kj::str("nothing to update: give --timeout, --memory, --cpu or --tasks-max"));
  }
  auto* found = find(id);
  if (found == nullptr) {
    kj::StringPtr state = "ended";
    KJ_IF_MAYBE (record, store.getTask(id)) state = stateName((*record)->get().getState());
    refuse(kj::str("task ", id, " has ended (", state, "): its limits can no longer change"));
  }
  auto& a = *found;
  if (a.state == TaskState::STARTING) {
    refuse(kj::str("task ", id, " is starting: update it once it runs"));
  }
  bool running = a.state == TaskState::RUNNING && a.hasAttempt;
  if (running && a.stopReason != EndReason::NONE) {
    refuse(kj::str("task ", id, " is being stopped (", reasonName(a.stopReason), ")"));
  }
  auto task = record(a);
  auto limits = task.getLimits();
  // What is in force now: the running attempt's own (a retry may have grown
  // them, the task may have extended its timeout), else the task's.
  uint64_t timeoutNow = limits.getTimeoutUsec();
  uint64_t memoryNow = limits.getMemoryMaxBytes();
  if (running) {
    auto attempt = a.attempt();
    timeoutNow =
        kj::max(attemptTimeoutUsec(task, attempt), uint64_t(attempt.getExtendedTimeoutUsec()));
    memoryNow = attemptMemoryMaxBytes(task, attempt);
  }
  if (change.timeoutRelative) {
    if (timeoutNow == 0) {
      refuse(kj::str("task ", id, " has no timeout to add to: give one without \"+\""));
    }
    change.timeoutUsec =
        change.timeoutUsec > MAX_TIMEOUT_USEC - kj::min(timeoutNow, MAX_TIMEOUT_USEC)
            ? UINT64_MAX
            : timeoutNow + change.timeoutUsec;
    change.timeoutRelative = false;
  }
  // The ranges a submit checks (resolveLimits).
  if (change.timeoutUsec > MAX_TIMEOUT_USEC) refuse(kj::str("timeout is over a year"));
  if (change.memoryMaxBytes != 0 && change.memoryMaxBytes < (1 << 20)) {
    refuse(kj::str("memory limit is under 1M"));
  }
  if (change.cpuQuotaPerSecUsec != 0 && change.cpuQuotaPerSecUsec < 10000) {
    refuse(kj::str("cpu quota is under 1%"));
  }
  if (!change.exempt) {
    // Only a raise past a maximum needs root or the admin group: an owner
    // may lower what an administrator raised, even if it stays above it.
    capnp::word scratch[16] = {};
    capnp::MallocMessageBuilder message(scratch);
    auto raised = message.initRoot<spec::TaskLimits>();
    if (change.timeoutUsec > timeoutNow) raised.setTimeoutUsec(change.timeoutUsec);
    if (change.memoryMaxBytes > memoryNow) raised.setMemoryMaxBytes(change.memoryMaxBytes);
    if (change.cpuQuotaPerSecUsec > limits.getCpuQuotaPerSecUsec()) {
      raised.setCpuQuotaPerSecUsec(change.cpuQuotaPerSecUsec);
    }
    KJ_IF_MAYBE (why, aboveQueueMaximum(raised.asReader(), queueOf(a).defaults)) {
      refuse(kj::str(*why, ": only root and the admin group may go past it"));
    }
  }
  bool live = change.cpuQuotaPerSecUsec != 0 || change.memoryMaxBytes != 0 || change.tasksMax != 0;
  if (!running || !live) {
    applyUpdate(a, change);
    return commit.durable();
  }
  Execution* execution = nullptr;
  KJ_IF_MAYBE (e, a.live().execution) execution = e->get();
  if (execution == nullptr) refuse(kj::str("task ", id, " is starting: update it once it runs"));
  if (!execution->setsLimits() && execution->slurmJobId() != 0) {
    refuse(kj::str("task ", id, " runs as Slurm job ", execution->slurmJobId(),
                   ", whose memory, CPU or tasks limit Slurm cannot change while it runs: only "
                   "--timeout applies"));
  }
  if (!execution->setsLimits()) {
    refuse(kj::str("task ", id, " runs under the ", runner.name(),
                   " runner, which cannot change a running task's memory, CPU or tasks limit "
                   "(it enforces none): only --timeout applies"));
  }
  LiveLimits wanted;
  wanted.memoryMaxBytes = change.memoryMaxBytes;
  wanted.cpuQuotaPerSecUsec = change.cpuQuotaPerSecUsec;
  wanted.tasksMax = change.tasksMax;
  uint32_t number = a.attempt().getNumber();
  KJ_LOG(INFO, "update: setting live limits", id, number, change.memoryMaxBytes,
         change.cpuQuotaPerSecUsec, change.tasksMax);
  return execution->setLimits(wanted).then([this, id, number, change]() {
    auto* a = findAttempt(id, number);
    if (a == nullptr || a->state != TaskState::RUNNING) {
      refuse(kj::str("task ", id, " ended while its limits were being changed"));
    }
    applyUpdate(*a, change);
    return commit.durable();
  });
}

void Scheduler::applyUpdate(Active& a, const LimitUpdate& change) {
  auto task = record(a);
  auto limits = task.getLimits();
  bool running = a.state == TaskState::RUNNING && a.hasAttempt;
  if (change.timeoutUsec != 0) limits.setTimeoutUsec(change.timeoutUsec);
  if (change.memoryMaxBytes != 0) limits.setMemoryMaxBytes(change.memoryMaxBytes);
  if (change.cpuQuotaPerSecUsec != 0) limits.setCpuQuotaPerSecUsec(change.cpuQuotaPerSecUsec);
  if (change.tasksMax != 0) limits.setTasksMax(change.tasksMax);
  task.setLimitsUpdatedAt(now());
  task.setLimitsUpdatedBy(change.by);
  if (running) {
    auto attempt = a.attempt();
    if (change.memoryMaxBytes != 0) attempt.setMemoryMaxBytes(change.memoryMaxBytes);
    if (change.timeoutUsec != 0) {
      // The operator's word replaces the task's own extension; counted from
      // the attempt's start, so one already past it times out at once.
      attempt.setTimeoutUsec(change.timeoutUsec);
      attempt.setExtendedTimeoutUsec(0);
      armTimeout(a);
    }
  }
  KJ_LOG(INFO, "update", a.id(), change.by, change.timeoutUsec, change.memoryMaxBytes,
         change.cpuQuotaPerSecUsec, change.tasksMax);
  persist(a, "updated");
}

}  // namespace taskctl
