#include "rpc/views.h"

#include <time.h>

namespace taskctl {
namespace {

void copyLabels(capnp::List<spec::Label>::Reader from, capnp::List<spec::Label>::Builder to) {
  for (auto i : kj::indices(from)) {
    to[i].setKey(from[i].getKey());
    to[i].setValue(from[i].getValue());
  }
}

// The limits in force. Read from the flat fields the scheduler writes until
// records.Task.limits (format 4) is where a stored task keeps them: then
// from t.getLimits(), here alone.
// The limits in force, as the stored task keeps them (format 4: in `limits`).
void fillLimits(records::Task::Reader t, rpc::TaskView::Builder v) {
  auto limits = t.getLimits();
  v.setTimeoutUsec(limits.getTimeoutUsec());
  v.setKillGraceUsec(limits.getKillGraceUsec());
  v.setHeartbeatUsec(limits.getHeartbeatUsec());
  v.setCpuQuotaPerSecUsec(limits.getCpuQuotaPerSecUsec());
  v.setMemoryMaxBytes(limits.getMemoryMaxBytes());
  v.setTasksMax(limits.getTasksMax());
}

}  // namespace

void fillTask(records::Task::Reader t, kj::StringPtr waitingFor,
              kj::Maybe<kj::ArrayPtr<const records::Attempt::Reader>> attempts, bool withEnv,
              rpc::TaskView::Builder v) {
  v.setId(t.getId());
  v.setUid(t.getUid());
  v.setGid(t.getGid());
  v.setState(stateName(t.getState()));
  v.setReason(reasonName(t.getReason()));
  v.setMessage(t.getMessage());
  v.setExitStatus(exitStatusOf(t));
  v.setExitCode(t.getExitCode());
  v.setSignal(t.getSignal());
  v.setQueue(t.getQueue());
  v.setPriority(t.getPriority());
  v.setArgv(t.getArgv());
  v.setCwd(t.getCwd());
  if (withEnv) v.setEnv(t.getEnv());
  copyLabels(t.getLabels(), v.initLabels(t.getLabels().size()));
  v.setCreatedAt(t.getCreatedAt());
  v.setFinishedAt(t.getFinishedAt());
  fillLimits(t, v);
  v.setAfter(t.getAfter());
  v.setNotBefore(t.getNotBefore());
  v.setNextAttemptAt(t.getNextAttemptAt());
  v.setRetry(t.getRetry());
  v.setKey(t.getKey());
  v.setRequestId(t.getRequestId());
  v.setWaitingFor(waitingFor);
  v.setHeld(t.getHeld());
  v.setRerunOf(t.getRerunOf());
  v.setEditedAt(t.getEditedAt());
  v.setLimitsUpdatedAt(t.getLimitsUpdatedAt());
  v.setLimitsUpdatedBy(t.getLimitsUpdatedBy());
  KJ_IF_MAYBE (list, attempts) {
    auto out = v.initAttempts(list->size());
    for (auto i : kj::indices(*list)) fillAttempt((*list)[i], out[i]);
    if (list->size() > 0) {
      // `pause`: the last attempt's paused time, the pause going on included.
      auto last = (*list)[list->size() - 1];
      uint64_t paused = last.getPausedUsec();
      if (last.getPausedAt() != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
        paused += uint64_t(kj::max(now - last.getPausedAt(), int64_t(0)) / 1000);
      }
      v.setPausedUsec(paused);
      v.setPausedAt(last.getPausedAt());
    }
  }
}

void fillTask(SeenTask& seen, bool withEnv, rpc::TaskView::Builder v) {
  fillTask(seen.task(), seen.waitingFor(), seen.attempts(), withEnv, v);
}

void fillTombstone(records::Tombstone::Reader t, rpc::TaskView::Builder v) {
  v.setId(t.getId());
  v.setUid(t.getUid());
  v.setState(stateName(t.getState()));
  v.setReason(reasonName(t.getReason()));
  v.setExitCode(t.getExitCode());
  v.setSignal(t.getSignal());
  v.setFinishedAt(t.getFinishedAt());
  v.setQueue(t.getQueue());
  v.setPruned(true);
  v.setExitStatus(exitStatusOf(t.getState(), t.getReason(), t.getExitCode(), t.getSignal()));
  v.setMessage(kj::str("pruned by retention; only its final state is kept"));
}

void fillAttempt(records::Attempt::Reader a, rpc::AttemptView::Builder v) {
  v.setNumber(a.getNumber());
  v.setState(stateName(a.getState()));
  v.setReason(reasonName(a.getReason()));
  v.setMessage(a.getMessage());
  v.setExitCode(a.getExitCode());
  v.setSignal(a.getSignal());
  v.setStartedAt(a.getStartedAt());
  v.setEndedAt(a.getEndedAt());
  v.setShimPid(a.getShimPid());
  v.setUnit(a.getUnit());
  v.setWallUsec(a.getWallUsec());
  v.setCpuUserUsec(a.getCpuUserUsec());
  v.setCpuSystemUsec(a.getCpuSystemUsec());
  v.setPeakMemoryBytes(a.getPeakMemoryBytes());
  v.setOutputTail(a.getOutputTail());
  v.setProgress(a.getProgress());
  v.setStatusText(a.getStatusText());
  v.setOomKills(a.getOomKills());
  // The timeout in force: the task's own EXTEND_TIMEOUT_USEC= extension
  // moves it (kept in extendedTimeoutUsec, 0 when it did not).
  v.setTimeoutUsec(kj::max(a.getTimeoutUsec(), a.getExtendedTimeoutUsec()));
  v.setMemoryMaxBytes(a.getMemoryMaxBytes());
  v.setSlurmJobId(a.getSlurmJobId());
  v.setSlurmNode(a.getSlurmNode());
}

void fillQueue(const Scheduler::QueueInfo& info, rpc::QueueView::Builder v) {
  v.setName(info.name);
  v.setConcurrency(info.concurrency);
  v.setConcurrencyFromConfig(info.fromConfig);
  v.setRunning(info.running);
  v.setQueued(info.queued);
  v.setWaiting(info.waiting);
  v.setPaused(info.paused);
  v.setPausedReason(info.pausedReason);
  v.setDrained(info.drained);
}

void fillSchedule(const ScheduleInfo& s, kj::ArrayPtr<const uint64_t> taskIds,
                  rpc::ScheduleView::Builder v) {
  v.setName(s.name);
  v.setUid(s.uid);
  v.setOnCalendar(s.onCalendar);
  v.setNextRunAt(int64_t(s.times.nextUsec) * 1000);
  v.setLastRunAt(int64_t(s.times.lastUsec) * 1000);
  auto ids = v.initTaskIds(taskIds.size());
  for (auto j : kj::indices(taskIds)) ids.set(j, taskIds[j]);
  v.setTimerUnit(s.timerUnit);
  v.setServiceUnit(s.serviceUnit);
}

kj::Maybe<records::TaskState> stateNamed(kj::StringPtr name) {
  for (auto state :
       {records::TaskState::WAITING, records::TaskState::QUEUED, records::TaskState::STARTING,
        records::TaskState::RUNNING, records::TaskState::SUCCEEDED, records::TaskState::FAILED,
        records::TaskState::CANCELLED, records::TaskState::RETRYING, records::TaskState::PAUSED}) {
    if (stateName(state) == name) return state;
  }
  return nullptr;
}

}  // namespace taskctl
