// The Scheduler's recovery and waiting (DESIGN 5, 6 and 9): at start, every
// stored task that is not terminal is reconciled; a waiting task moves on once
// its dependencies, its delay or --at time and its key allow; a failed
// attempt the retry policy names makes the task retry after a backoff.
#include <kj/debug.h>
#include <malloc.h>
#include <time.h>

#include "scheduler/active.h"
#include "scheduler/backoff.h"
#include "scheduler/task-spec-check.h"

namespace taskctl {

using records::EndReason;
using records::TaskState;

namespace {}  // namespace

void Scheduler::recover() {
  // One pass over the stored active tasks, each record read once: only its
  // summary stays (what dispatch needs), appended to `active` (the scan is
  // in id order); a task that starts reads the rest again. Reconciling
  // stages writes: it waits for the scan's read transaction to end.
  size_t unfinished = 0;
  store.forEachActiveTask([&](records::Task::Reader task) {
    auto& a = active.emplace(task.getId(), compactOf(task));
    if (a.key().size() > 0) keys.add(a.uid, a.key(), a.id());
    queues.countIn(*a.queue, a.uid);
    // Each record read maps its page: 1 M queued tasks would peak at GiBs
    // of file pages in RSS (bench/README.md). Let go of them as we go, every
    // 16 MiB of pages at most (1 M tasks then peak under 64 MiB in all).
    if (++unfinished % 4096 == 0) store.releaseMappedPages();
  });
  // Every active task is known before any is reconciled: a dependency or key
  // holder recovered later in id order must not read as ended. Reconciling
  // may end a task: the walk skips what has left (nothing moves meanwhile).
  for (auto& [id, a] : active) reconcile(*a);
  active.compact();  // the slots of tasks that ended
  KJ_LOG(INFO, "recovered", unfinished);
  // The scan touched every active record's pages of the map and left the
  // heap with the reading's garbage: hand both back (DESIGN 11's budget).
  store.releaseMappedPages();
  malloc_trim(0);
}

void Scheduler::start() {
  dispatching = true;
  for (auto& [name, queue] : queues) dispatch(queue);
}

void Scheduler::reconcile(Active& a) {
  uint64_t id = a.id();
  uint32_t number = a.attempts;
  auto state = a.state;
  if (state == TaskState::STARTING || state == TaskState::RUNNING || state == TaskState::PAUSED) {
    auto stored = store.getAttempt(id, number);
    KJ_IF_MAYBE (record, stored) {
      a.live().attemptMessage =
          kj::heap<capnp::MallocMessageBuilder>((*record)->get().totalSize().wordCount + 64);
      a.live().attemptMessage->setRoot((*record)->get());
      a.hasAttempt = true;
    }
  }
  if (!a.hasAttempt) {
    if (state == TaskState::WAITING || state == TaskState::RETRYING) {
      admit(a);  // deadlines and dependencies as stored
      return;
    }
    // queued, or an attempt record that never became durable.
    if (state != TaskState::QUEUED) {
      setState(a, TaskState::QUEUED);
      persist(a);
    }
    enqueue(a);
    return;
  }
  if (state == TaskState::STARTING) {
    // The shim was never told to go (that needs `running` to be durable):
    // no user code ran. Its go fd closed with the old daemon, so it exits.
    a.attempt().setEndedAt(now());
    // A Slurm attempt may have left a job submitted held whose id was never
    // stored: it never ran, and is cancelled by its name.
    if (a.attempt().getSharedDir().size() > 0) runner.stopRemains(a.attempt());
    requeue(a, "the command was never started (the daemon stopped first)");
    return;
  }
  queues.slotTaken(queueOf(a), a.uid);  // ingest() gives the slot back
  KJ_IF_MAYBE (execution, runner.adopt(a.attempt())) {
    int pid = (*execution)->pid();
    KJ_LOG(INFO, "re-adopted a running execution", id, number, pid);
    watch(a, kj::mv(*execution));
    openNotify(a);
    if (state == TaskState::PAUSED) {
      // Paused stays paused: frozen again (the old daemon may have died
      // before it froze it), never thawed; its clocks stay stopped.
      KJ_LOG(INFO, "the re-adopted execution stays paused", id, number);
      tasks.add(KJ_ASSERT_NONNULL(a.live().execution)->pause(true));
      return;
    }
    // A Slurm job not yet seen running has no clocks yet: they start with
    // its node (watch()).
    if (a.attempt().getSlurmJobId() == 0 || a.attempt().getSlurmNode().size() > 0) {
      armTimeout(a);
      armHeartbeat(a);  // a re-adopted attempt gets a fresh heartbeat deadline
    }
    return;
  }
  // Gone: its result file is the one record of how it ended.
  ingest(a, runner.readOutcome(id, number));
}

// ---- Waiting: dependencies, delays, keys ----

void Scheduler::admit(Active& a) {
  // Called once per task in memory (after its submit is durable, or at
  // recovery): registers what it waits on, then moves it as far as it can go.
  uint64_t id = a.id();
  if (a.state == TaskState::WAITING) {
    for (auto& dependency : a.after()) {
      // Pending: it runs, or its end is not durable yet (at recovery, an
      // attempt that ended while the daemon was down).
      kj::String why;
      if (verdictOn(dependency.id, dependency.condition, why) == Verdict::PENDING) {
        dependents.emplace(dependency.id, id);
      }
    }
  }
  if (a.state == TaskState::QUEUED) {
    enqueue(a);
    dispatch(queueOf(a));
    return;
  }
  advance(a);
}

void Scheduler::advance(Active& a) {
  auto state = a.state;
  int64_t t = now();
  if (state == TaskState::RETRYING) {
    if (a.nextAttemptAt() > t && !a.elapsedWaitOver) {
      setDeadline(a, a.nextAttemptAt(), false);
      return;
    }
    clearDeadline(a);
    if (a.held) {
      // Its backoff is over, but it is held: it waits for `release` now.
      setState(a, TaskState::WAITING);
      record(a).setNextAttemptAt(0);
      if (a.extraOrNull() != nullptr) a.extraOrNull()->nextAttemptAt = 0;
      persist(a);
      return;
    }
    makeQueued(a);
    return;
  }
  if (state != TaskState::WAITING) return;
  if (a.notBefore() > t && !(a.elapsedWaitOver && !a.notBeforeWall())) {
    setDeadline(a, a.notBefore(), a.notBeforeWall());
    return;
  }
  clearDeadline(a);
  // Every dependency is looked at: one that can never hold decides at once,
  // even while an earlier one still runs.
  bool pending = false;
  for (auto& dependency : a.after()) {
    kj::String why;
    switch (verdictOn(dependency.id, dependency.condition, why)) {
      case Verdict::PENDING:
        pending = true;  // dependencyEnded() brings us back
        break;
      case Verdict::NEVER:
        finish(a, TaskState::CANCELLED, EndReason::DEPENDENCY, kj::str("dependency failed: ", why),
               -1, 0);
        return;
      case Verdict::HOLDS:
        break;
    }
  }
  // A held task is looked at all the same: a dependency that can never hold
  // still cancels it. release() brings it back.
  if (pending || !holdsKey(a) || a.held) return;  // keyReleased() brings us back
  makeQueued(a);
}

void Scheduler::makeQueued(Active& a) {
  setState(a, TaskState::QUEUED);
  record(a).setNextAttemptAt(0);
  if (a.extraOrNull() != nullptr) a.extraOrNull()->nextAttemptAt = 0;
  persist(a);
  enqueue(a);
  dispatch(queueOf(a));
}

Scheduler::Verdict Scheduler::verdictOn(uint64_t id, spec::DependencyCondition condition,
                                        kj::String& why) {
  if (active.count(id)) return Verdict::PENDING;
  kj::Maybe<TaskState> ended;
  KJ_IF_MAYBE (record, store.getTask(id)) {
    auto state = (*record)->get().getState();
    // Ended in memory but not yet durable: dependencyEnded() follows.
    if (!isTerminal(state)) return Verdict::PENDING;
    ended = state;
  } else KJ_IF_MAYBE (tombstone, store.getTombstone(id)) {
    ended = (*tombstone)->get().getState();
  }
  using C = spec::DependencyCondition;
  KJ_IF_MAYBE (state, ended) {
    bool holds = false;
    switch (condition) {
      case C::OK:
        holds = *state == TaskState::SUCCEEDED;
        break;
      case C::ANY:
        holds = true;
        break;
      case C::FAILED:
        holds = *state != TaskState::SUCCEEDED;
        break;
    }
    if (!holds) why = kj::str(id, " ", stateName(*state));
    return holds ? Verdict::HOLDS : Verdict::NEVER;
  }
  // Pruned past its tombstone: its end is unknown, so only `any` holds.
  if (condition == C::ANY) return Verdict::HOLDS;
  why = kj::str(id, " unknown (pruned)");
  return Verdict::NEVER;
}

void Scheduler::dependencyEnded(uint64_t id) {
  auto range = dependents.equal_range(id);
  kj::Vector<uint64_t> waiting;
  for (auto it = range.first; it != range.second; ++it) waiting.add(it->second);
  dependents.erase(range.first, range.second);
  for (auto dependent : waiting) {
    KJ_IF_MAYBE (a, find(dependent)) advance(*a);
  }
}

bool Scheduler::holdsKey(Active& a) {
  return a.key().size() == 0 || keys.holds(a.uid, a.key(), a.id());
}

void Scheduler::keyReleased(uint32_t uid, kj::StringPtr key) {
  KJ_IF_MAYBE (first, keys.holder(uid, key)) {
    KJ_IF_MAYBE (next, find(*first)) {
      if (next->state == TaskState::WAITING) advance(*next);
    }
  }
}

void Scheduler::releaseKey(Active& a) {
  if (a.key().size() > 0) keys.remove(a.uid, a.key(), a.id());
}

kj::String Scheduler::waitingFor(records::Task::Reader task) {
  auto formatTime = [](int64_t ns) {
    time_t secs = ns / 1000000000;
    struct tm tm;
    localtime_r(&secs, &tm);
    char buffer[64];
    strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S %Z", &tm);
    return kj::str(buffer);
  };
  int64_t t = now();
  uint64_t id = task.getId();
  auto state = task.getState();
  if (state != TaskState::WAITING && state != TaskState::RETRYING && state != TaskState::QUEUED) {
    return kj::str();
  }
  // One line a person can act on: the first thing that holds it back.
  if (task.getHeld()) {
    if (state == TaskState::RETRYING) {
      return kj::str("held (taskctl release ", id, "); its backoff ends ",
                     formatTime(task.getNextAttemptAt()));
    }
    return kj::str("held (taskctl release ", id, ")");
  }
  if (state == TaskState::RETRYING) {
    return kj::str("backoff until ", formatTime(task.getNextAttemptAt()), ", then attempt ",
                   task.getAttempts() + 1);
  }
  if (state == TaskState::QUEUED) {
    auto it = queues.find(task.getQueue());
    bool paused = it != queues.end() && it->second.paused;
    auto resume = kj::str("queue ", task.getQueue(), " is paused (taskctl queue resume ",
                          task.getQueue(), ")");
    // Drained first: the daemon-wide stop, which `queue resume` does not lift.
    if (isDrained) {
      return paused ? kj::str("taskctld is drained (taskctl undrain), and ", resume)
                    : kj::str("taskctld is drained (taskctl undrain)");
    }
    if (paused) return resume;
    return kj::str();  // its slots: TaskQueries asks slotHolders()
  }
  if (task.getNotBefore() > t) return kj::str("not before ", formatTime(task.getNotBefore()));
  kj::Vector<kj::String> parts;
  auto stateOf = [&](uint64_t other) -> kj::StringPtr {
    KJ_IF_MAYBE (a, find(other)) return stateName(a->state);
    return "ended"_kj;
  };
  for (auto dependency : task.getAfter()) {
    if (!active.count(dependency.getId())) continue;
    kj::StringPtr condition;
    switch (dependency.getCondition()) {
      case spec::DependencyCondition::OK:
        condition = "to succeed";
        break;
      case spec::DependencyCondition::ANY:
        condition = "to end";
        break;
      case spec::DependencyCondition::FAILED:
        condition = "to fail";
        break;
    }
    parts.add(
        kj::str("task ", dependency.getId(), " (", stateOf(dependency.getId()), ") ", condition));
  }
  if (task.getKeyWaitsFor() != 0 && active.count(task.getKeyWaitsFor())) {
    parts.add(kj::str("key \"", task.getKey(), "\" held by task ", task.getKeyWaitsFor(), " (",
                      stateOf(task.getKeyWaitsFor()), ")"));
  }
  if (parts.size() == 0) return kj::str();
  return kj::str("waiting for ", kj::strArray(parts, ", "));
}

// ---- Timed waits (deadlines.h) ----

void Scheduler::setDeadline(Active& a, int64_t realtimeNs, bool wallClock) {
  a.elapsedWaitOver = false;
  deadlines.set(a.id(), realtimeNs, wallClock);
}

void Scheduler::clearDeadline(Active& a) { deadlines.clear(a.id()); }

// ---- Retries ----

bool Scheduler::shouldRetry(Active& a, EndReason reason, int exitCode) {
  auto task = record(a);
  auto policy = task.getRetry();
  // Preempted attempts (Slurm) are not the task's failures: they do not count.
  uint32_t counted = task.getAttempts() - kj::min(task.getAttempts(), task.getUncountedAttempts());
  if (a.cancelRequested() || counted > policy.getRetries()) return false;
  switch (reason) {
    case EndReason::EXIT: {
      if (!policy.getOnExit() || exitCode == 0) return false;
      auto codes = policy.getExitCodes();
      if (codes.size() == 0) return true;
      for (auto code : codes) {
        if (code == exitCode) return true;
      }
      return false;
    }
    case EndReason::SIGNAL:
      return policy.getOnSignal();
    case EndReason::OOM:
      return policy.getOnOom();
    case EndReason::TIMEOUT:
      return policy.getOnTimeout();
    case EndReason::HEARTBEAT:
      return policy.getOnHeartbeat();
    case EndReason::LOST:
      return policy.getOnLost();
    default:
      return false;  // spawn, dependency, cancelled: another try cannot help
  }
}

void Scheduler::retryLater(Active& a, EndReason reason, kj::StringPtr message, int exitCode,
                           int signal) {
  auto task = record(a);
  auto policy = task.getRetry();
  uint32_t number = task.getAttempts();
  uint64_t delayUsec =
      backoffDelayUsec(policy.getBackoffBaseUsec(), policy.getBackoffMaxUsec(), number, random);
  int64_t t = now();
  // The attempt keeps its own end; the task shows `retrying` and when.
  if (a.hasAttempt) {
    auto attempt = a.attempt();
    attempt.setState(TaskState::FAILED);
    attempt.setReason(reason);
    attempt.setMessage(message);
    attempt.setExitCode(exitCode);
    attempt.setSignal(signal);
    if (attempt.getEndedAt() == 0) attempt.setEndedAt(t);
  }
  // A retry that grows a limit (RetryPolicy): the next attempt runs with the
  // grown one, which is the task's limit in force from now on.
  // Growth stops at the queue's maximums (max_memory, max_timeout): past
  // them only root and the admin group may go, with `update`.
  auto limits = task.getLimits();
  auto& defaults = queueOf(a).defaults;
  if (reason == EndReason::OOM) {
    uint64_t from = a.hasAttempt ? attemptMemoryMaxBytes(task, a.attempt()) : 0;
    if (from == 0) from = limits.getMemoryMaxBytes();
    uint64_t bound = defaults.maxMemoryBytes ? defaults.maxMemoryBytes : UINT64_MAX;
    limits.setMemoryMaxBytes(
        grownLimit(from, policy.getMemoryGrowFactor(), policy.getMemoryGrowMaxBytes(), bound));
  } else if (reason == EndReason::TIMEOUT) {
    uint64_t from = a.hasAttempt ? attemptTimeoutUsec(task, a.attempt()) : 0;
    if (from == 0) from = limits.getTimeoutUsec();
    uint64_t bound = defaults.maxTimeoutUsec ? kj::min(defaults.maxTimeoutUsec, MAX_TIMEOUT_USEC)
                                             : MAX_TIMEOUT_USEC;
    limits.setTimeoutUsec(
        grownLimit(from, policy.getTimeoutGrowFactor(), policy.getTimeoutGrowMaxUsec(), bound));
  }
  setState(a, TaskState::RETRYING);
  task.setReason(reason);
  task.setMessage(
      kj::str(message, "; retrying (attempt ", number + 1, " of ", policy.getRetries() + 1, ")"));
  task.setExitCode(exitCode);
  task.setSignal(signal);
  task.setNextAttemptAt(t + int64_t(delayUsec) * 1000);
  a.extra().nextAttemptAt = task.getNextAttemptAt();
  persist(a);
  uint64_t id = task.getId();
  KJ_LOG(INFO, "task will retry", id, number, message, delayUsec);
  if (a.hasAttempt) {
    tasks.add(commit.durable().then([this, id, number]() { runner.release(id, number); }));
  }
  a.hasAttempt = false;
  a.stopReason = EndReason::NONE;
  endAttempt(a);
  setDeadline(a, task.getNextAttemptAt(), false);
}

}  // namespace taskctl
