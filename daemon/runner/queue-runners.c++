#include "queue-runners.h"

#include <kj/debug.h>

#include "runner/slurm/slurm-files.h"

namespace taskctl {

void QueueRunners::setSlurm(kj::StringPtr queue, kj::Own<SlurmRunner> runner) {
  auto it = slurm.find(kj::str(queue));
  if (it != slurm.end()) {
    retired.add(kj::mv(it->second));
    slurm.erase(it);
  }
  if (runner.get() != nullptr) slurm.emplace(kj::str(queue), kj::mv(runner));
}

kj::Maybe<SlurmRunner&> QueueRunners::slurmFor(kj::StringPtr queue) {
  auto it = slurm.find(kj::str(queue));
  if (it == slurm.end()) return nullptr;
  return *it->second;
}

void QueueRunners::setAttemptLookup(kj::Function<kj::String(uint64_t, uint32_t)> lookup) {
  sharedDirOf = kj::mv(lookup);
}

Runner& QueueRunners::forQueue(kj::StringPtr queue) {
  KJ_IF_MAYBE (runner, slurmFor(queue)) {
    return *runner;
  }
  return local;
}

kj::Maybe<SlurmRunner&> QueueRunners::forSharedDir(kj::StringPtr dir) {
  // Any Slurm queue on the same shared directory can watch the job: they
  // are one cluster's (a cluster has one shared directory per site).
  for (auto& [name, runner] : slurm) {
    if (runner->sharedDir() == dir) return *runner;
  }
  for (auto& runner : retired) {
    if (runner->sharedDir() == dir) return *runner;
  }
  if (!slurm.empty()) return *slurm.begin()->second;
  return nullptr;
}

kj::String QueueRunners::storedSharedDir(uint64_t taskId, uint32_t attempt) {
  // Without a Slurm queue in the configuration no attempt is looked up: the
  // daemon's own runner pays nothing for this one.
  if (slurm.empty() && retired.empty()) return kj::str();
  KJ_IF_MAYBE (lookup, sharedDirOf) {
    return (*lookup)(taskId, attempt);
  }
  return kj::str();
}

kj::String QueueRunners::unitFor(uint64_t taskId, uint32_t attempt) {
  return local.unitFor(taskId, attempt);
}

void QueueRunners::prepare(records::Task::Reader task, records::Attempt::Builder attempt) {
  forQueue(task.getQueue()).prepare(task, attempt);
}

kj::Promise<kj::Own<Execution>> QueueRunners::start(records::Task::Reader task,
                                                    records::Attempt::Reader attempt) {
  if (attempt.getSharedDir().size() > 0) {
    KJ_IF_MAYBE (runner, slurmFor(task.getQueue())) {
      return runner->start(task, attempt);
    }
    // Prepared for a Slurm queue that a reload made local since: no job
    // exists; it starts nowhere rather than somewhere unplanned.
    return KJ_EXCEPTION(DISCONNECTED, "the queue's runner changed before the attempt started");
  }
  return local.start(task, attempt);
}

kj::Maybe<kj::Own<Execution>> QueueRunners::adopt(records::Attempt::Reader attempt) {
  if (attempt.getSharedDir().size() == 0) return local.adopt(attempt);
  KJ_IF_MAYBE (runner, forSharedDir(attempt.getSharedDir())) {
    return runner->adopt(attempt);
  }
  KJ_LOG(ERROR, "a Slurm attempt, but no queue has runner = \"slurm\" now: not watched",
         attempt.getTaskId(), attempt.getNumber(), attempt.getSlurmJobId());
  return nullptr;
}

kj::Maybe<kj::Own<ExecOutcome>> QueueRunners::readOutcome(uint64_t taskId, uint32_t attempt) {
  auto dir = storedSharedDir(taskId, attempt);
  if (dir.size() > 0) return readSlurmOutcome(dir, taskId, attempt);
  return local.readOutcome(taskId, attempt);
}

void QueueRunners::stopRemains(records::Attempt::Reader attempt) {
  if (attempt.getSharedDir().size() == 0) return local.stopRemains(attempt);
  KJ_IF_MAYBE (runner, forSharedDir(attempt.getSharedDir())) {
    runner->stopRemains(attempt);
  } else {
    KJ_LOG(ERROR, "cannot cancel a lost Slurm attempt's job: no Slurm queue now",
           attempt.getTaskId(), attempt.getNumber(), attempt.getSlurmJobId());
  }
}

void QueueRunners::release(uint64_t taskId, uint32_t attempt) {
  auto dir = storedSharedDir(taskId, attempt);
  if (dir.size() > 0) return removeSlurmRun(dir, taskId, attempt);
  local.release(taskId, attempt);
}

kj::String QueueRunners::logPath(uint64_t taskId, uint32_t attempt) {
  auto dir = storedSharedDir(taskId, attempt);
  if (dir.size() > 0) return slurmLogPath(dir, taskId, attempt);
  return local.logPath(taskId, attempt);
}

bool QueueRunners::availableFor(kj::StringPtr queue) { return forQueue(queue).available(); }

kj::Promise<void> QueueRunners::whenAvailableFor(kj::StringPtr queue) {
  return forQueue(queue).whenAvailable();
}

}  // namespace taskctl
