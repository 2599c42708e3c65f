// The Scheduler's attempt lifecycle and dispatch (DESIGN 9, "the write order
// of an attempt"): a queued task takes a slot, its attempt is durable as
// `starting` before its shim exists and `running` before the command is told
// to go; then its end (an exit, a cancel, a timeout, a lost heartbeat) is
// ingested, and the task retries, goes back to the queue, or ends.
#include <fcntl.h>
#include <kj/debug.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/units.h"
#include "scheduler/active.h"
#include "scheduler/task-spec-check.h"

namespace taskctl {

using records::EndReason;
using records::TaskState;

namespace {

constexpr size_t OUTPUT_TAIL_BYTES = 4096;

// The last bytes of an attempt's output, kept with the attempt.
kj::Array<kj::byte> readTail(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);  // the log, never a link's target
  if (fd < 0) return nullptr;
  KJ_DEFER(close(fd));
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0) return nullptr;
  size_t n = kj::min(static_cast<size_t>(size), OUTPUT_TAIL_BYTES);
  auto tail = kj::heapArray<kj::byte>(n);
  ssize_t got = pread(fd, tail.begin(), n, size - n);
  if (got != static_cast<ssize_t>(n)) return nullptr;
  return tail;
}

kj::String signalText(int signal) {
  const char* name = sigabbrev_np(signal);
  return name ? kj::str("killed by signal ", signal, " (SIG", name, ")")
              : kj::str("killed by signal ", signal);
}

}  // namespace

records::Task::Builder Scheduler::record(Active& a) {
  if (a.message() == nullptr) {
    // Every write of it is durable (dropRecord): the committed record is the task.
    KJ_IF_MAYBE (stored, store.getTask(a.id())) {
      auto task = (*stored)->get();
      // Spare words: an end or a retry adds a message.
      auto message = kj::heap<capnp::MallocMessageBuilder>(task.totalSize().wordCount + 64);
      message->setRoot(task);
      a.more().message = kj::mv(message);
    } else {
      KJ_FAIL_ASSERT("an active task's record is not in the store", a.id());
    }
  }
  return a.message()->getRoot<records::Task>();
}

void Scheduler::setState(Active& a, TaskState state) {
  a.state = state;
  record(a).setState(state);
}

void Scheduler::dropRecord(Active& a) {
  if (!a.hasAttempt && !a.writePending && a.rest != nullptr) {
    a.rest->message = nullptr;
    a.trim();
  }
}

void Scheduler::endAttempt(Active& a) {
  // The attempt is over: its timers, notify socket and record go. Followers
  // of its log (not yet told by ingest(): a start that never happened) hear
  // of its end once that is durable.
  auto live = a.liveOrNull();
  if (live == nullptr) return;
  if (!live->attemptWaiters.empty()) {
    auto waiters = kj::mv(live->attemptWaiters);
    tasks.add(commit.durable().then([waiters = kj::mv(waiters)]() mutable {
      for (auto& w : waiters) w->fulfill();
    }));
  }
  a.rest->live = nullptr;
  a.trim();
}

void Scheduler::taskLeft() {
  // A drain (cancel of a big queue, a batch that ended) frees memory in
  // small pieces all over the heap, which malloc keeps unless asked, and
  // the records it read stay mapped. Once many tasks left, give both back
  // a second later (at most once a second, and after the replies to the
  // calls that ended them are gone too).
  if (++endedSinceTrim < TRIM_AFTER_ENDS || trimScheduled) return;
  trimScheduled = true;
  tasks.add(timer.afterDelay(1 * kj::SECONDS).then([this]() {
    trimScheduled = false;
    endedSinceTrim = 0;
    for (auto& [name, queue] : queues) {
      queue.ready.compact([&](uint64_t id) { return readyIsLive(queue, id); });
    }
    active.compact();  // an event of its own: no reference into it is held
    malloc_trim(0);
    store.releaseMappedPages();
  }));
}

bool Scheduler::attemptLive(uint64_t id, uint32_t attempt) {
  return findAttempt(id, attempt) != nullptr;
}

kj::Promise<void> Scheduler::whenAttemptEnds(uint64_t id, uint32_t attempt) {
  KJ_IF_MAYBE (a, findAttempt(id, attempt)) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    a->live().attemptWaiters.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  }
  return commit.flushed();
}

void Scheduler::dispatch(Queue& queue) {
  // A store found corrupt records nothing more: a task started now would be
  // run again after the store is salvaged. Tasks stay queued.
  if (!dispatching || isDrained || queue.paused || store.readOnly()) return;
  if (!runner.availableFor(queue.name)) {
    // The scope runner without a bus, a Slurm queue whose controller does
    // not answer: tasks stay queued (none fails as `spawn`) and dispatch
    // resumes when it is back. Other queues go on.
    if (!queue.waitingForRunner && !queue.ready.empty()) {
      queue.waitingForRunner = true;
      KJ_LOG(WARNING, "the runner cannot start executions now; dispatch waits for it", queue.name);
      tasks.add(runner.whenAvailableFor(queue.name).then([this, &queue]() {
        queue.waitingForRunner = false;  // queues are never removed (queue-table.h)
        KJ_LOG(INFO, "the runner is back; dispatching", queue.name);
        dispatch(queue);
      }));
    }
    return;
  }
  while (queue.running < queue.concurrency && !queue.ready.empty()) {
    uint64_t id = queue.ready.pop([&](uint64_t id) { return readyIsLive(queue, id); });
    auto* found = find(id);
    KJ_ASSERT(found != nullptr, "ready task is not active", id);
    auto& a = *found;
    queues.slotTaken(queue, a.uid);
    beginAttempt(a);
  }
}

void Scheduler::persist(Active& a, kj::StringPtr action) {
  auto task = record(a);
  store.putTask(task);
  if (a.hasAttempt) store.putAttempt(a.attempt());
  // Every state change is written through here, so this is where each gets
  // its seq, in the same transaction as the change (DESIGN 6, "Events").
  if (task.getState() != a.recordedState || action.size() > 0) {
    events.record(task, TaskState(a.recordedState), task.getAttempts(), false, action);
    a.recordedState = task.getState();
  }
  if (isTerminal(a.state)) return;  // it leaves memory once this is durable
  // Until this write is durable the store's record is stale: the one in
  // memory stays, and goes once the last write of it is durable.
  uint16_t write = ++a.writes;
  a.writePending = true;
  uint64_t id = a.id();
  tasks.add(commit.durable().then([this, id, write]() {
    KJ_IF_MAYBE (a, find(id)) {
      if (a->writes != write) return;
      a->writePending = false;
      dropRecord(*a);
    }
  }));
}

void Scheduler::beginAttempt(Active& a) {
  // DESIGN 9: attempt N is durable as `starting` before its shim exists, so
  // attempt numbers (and so run directories and unit names) are never reused.
  prepareAttempt(a);
  persist(a);
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  tasks.add(commit.durable().then([this, id, number]() { launch(id, number); }));
}

void Scheduler::prepareAttempt(Active& a) {
  auto task = record(a);  // a running task keeps its full record
  uint32_t number = task.getAttempts() + 1;
  task.setAttempts(number);
  a.attempts = number;
  setState(a, TaskState::STARTING);
  a.more().live = kj::heap<Active::Live>();  // a new attempt starts afresh
  a.rest->live->attemptMessage = kj::heap<capnp::MallocMessageBuilder>(128);
  a.hasAttempt = true;
  auto attempt = a.attempt();
  attempt.setTaskId(task.getId());
  attempt.setNumber(number);
  attempt.setState(TaskState::STARTING);
  attempt.setStartedAt(now());
  runner.prepare(task, attempt);  // its unit, or a Slurm queue's shared directory
  // The limits it runs with, as they are now: a retry may have grown them
  // (retryLater), and the runner and the timeout read them from here.
  attempt.setTimeoutUsec(task.getLimits().getTimeoutUsec());
  attempt.setMemoryMaxBytes(task.getLimits().getMemoryMaxBytes());
  openNotify(a);
}

bool Scheduler::startsAtSubmit(Queue& queue) {
  // What dispatch() would do with the task the moment it is admitted: a free
  // slot, nothing ahead of it in the queue, a runner that can start. Then its
  // first attempt is staged as `starting` in the submit's own transaction, and
  // the shim is spawned once that one commit is durable: one fdatasync fewer
  // per task on the loop, and one fewer between the reply and "go".
  return dispatching && !isDrained && !queue.paused && queue.ready.empty() &&
         queue.running < queue.concurrency && runner.availableFor(queue.name);
}

void Scheduler::launch(uint64_t id, uint32_t number) {
  auto* found = find(id);
  if (found == nullptr) return;
  auto& a = *found;
  if (a.attempts != number || a.state != TaskState::STARTING) return;
  if (a.cancelRequested()) {
    queues.slotFreed(queueOf(a), a.uid);
    finish(a, TaskState::CANCELLED, EndReason::CANCELLED,
           a.stopMessage().size() ? a.stopMessage() : "cancelled before it started"_kj, -1, 0);
    return;
  }
  tasks.add(
      kj::evalNow([&]() { return runner.start(record(a), a.attempt()); })
          .then(
              [this, id, number](kj::Own<Execution> execution) {
                auto* found = find(id);
                KJ_ASSERT(found != nullptr && found->attempts == number);
                auto& a = *found;
                auto attempt = a.attempt();
                attempt.setShimPid(execution->pid());
                attempt.setShimStartTime(execution->startTime());
                attempt.setBootId(execution->bootId());
                attempt.setSlurmJobId(execution->slurmJobId());
                attempt.setState(TaskState::RUNNING);
                setState(a, TaskState::RUNNING);
                persist(a);
                watch(a, kj::mv(execution));
                // Only once `running` with this pid is durable may user code run.
                return commit.durable().then([this, id, number]() {
                  auto* found = find(id);
                  if (found == nullptr) return;
                  auto& a = *found;
                  if (!a.hasAttempt) return;
                  KJ_IF_MAYBE (execution, a.live().execution) {
                    if (a.attempts != number) return;
                    if (a.cancelRequested()) {
                      (*execution)->kill(SIGKILL);  // never told to go: nothing ran
                    } else {
                      (*execution)->go();
                      // A Slurm job may wait in Slurm's queue for long: its
                      // clocks start when it runs (watch(), node()).
                      if ((*execution)->slurmJobId() == 0) {
                        armTimeout(a);
                        armHeartbeat(a);
                      }
                    }
                  }
                });
              },
              [this, id, number](kj::Exception&& e) {
                auto* found = find(id);
                if (found == nullptr) return;
                auto& a = *found;
                if (a.attempts != number) return;
                if (e.getType() == kj::Exception::Type::DISCONNECTED && !a.cancelRequested()) {
                  // The bus went away mid-start: no user code ran (the
                  // shim was never told to go). Back to the queue.
                  KJ_LOG(WARNING, "start interrupted; requeued", id, number, e.getDescription());
                  queues.slotFreed(queueOf(a), a.uid);
                  a.attempt().setEndedAt(now());
                  requeue(a, kj::str("not started: ", e.getDescription()));
                  dispatch(queueOf(a));
                  return;
                }
                KJ_LOG(ERROR, "could not start an execution", id, number, e);
                queues.slotFreed(queueOf(a), a.uid);
                finish(a, TaskState::FAILED, EndReason::SPAWN,
                       kj::str("could not start: ", e.getDescription()), -1, 0);
                dispatch(queueOf(a));
              }));
}

void Scheduler::watch(Active& a, kj::Own<Execution> execution) {
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  // The TaskSet owns the watch; the Execution lives in `a` until the exit is
  // handled, so the promise never outlives what it watches.
  tasks.add(execution->exited().then([this, id, number]() { onExit(id, number); }));
  if (execution->slurmJobId() != 0) {
    // The node is known once Slurm runs the job there; `status` shows it.
    tasks.add(execution->node().then(
        [this, id, number](kj::String node) {
          auto* found = find(id);
          if (found == nullptr || !found->hasAttempt) return;
          auto& a = *found;
          auto attempt = a.attempt();
          if (attempt.getNumber() != number) return;
          bool first = attempt.getSlurmNode().size() == 0;
          attempt.setSlurmNode(node);
          if (!first) return;  // re-adopted: its clocks were armed from its stored start
          // The job runs: its timeout, heartbeat and wall time count from now,
          // as Slurm's own --time does, not from its release while it pended.
          attempt.setStartedAt(now());
          persist(a);
          armTimeout(a);
          armHeartbeat(a);
        },
        [](kj::Exception&&) {}));  // the job ended unseen on a node
  }
  a.live().execution = kj::mv(execution);
}

void Scheduler::onExit(uint64_t id, uint32_t number) {
  auto* found = find(id);
  if (found == nullptr) return;
  auto& a = *found;
  if (!a.hasAttempt || a.attempt().getNumber() != number) return;
  auto& queue = queueOf(a);
  auto outcome = runner.readOutcome(id, number);
  kj::Maybe<ExternalEnd> external;
  KJ_IF_MAYBE (execution, a.live().execution) {
    external = (*execution)->externalEnd();
    auto node = (*execution)->lastNode();
    if (node.size() > 0) a.attempt().setSlurmNode(node);
  }
  if (outcome == nullptr) {
    // No result file (a full disk): the shim we spawned says how it ended
    // through its exit status. Only a re-adopted shim leaves nobody to ask.
    KJ_IF_MAYBE (execution, a.live().execution) {
      outcome = (*execution)->outcomeFromExit();
      if (outcome != nullptr) {
        KJ_LOG(WARNING, "no result file; the end comes from the shim's exit status", id, number);
      }
    }
  }
  ingest(a, kj::mv(outcome), kj::mv(external));
  dispatch(queue);
}

kj::String Scheduler::stoppedBecause(Active& a) {
  // Why a timeout or heartbeat stop of ours ended the attempt.
  auto task = record(a);
  auto attempt = a.attempt();
  if (a.stopReason == EndReason::HEARTBEAT) {
    return a.live().watchdogTriggered
               ? kj::str("the task asked to be stopped (WATCHDOG=trigger)")
               : kj::str("no heartbeat for ",
                         formatDurationUsec(task.getLimits().getHeartbeatUsec()));
  }
  uint64_t extended = attempt.getExtendedTimeoutUsec();
  auto timeout = formatDurationUsec(attemptTimeoutUsec(task, attempt));
  return extended ? kj::str("timed out after ", formatDurationUsec(extended), " (--timeout ",
                            timeout, ", extended by the task)")
                  : kj::str("timed out after ", timeout);
}

bool Scheduler::endedElsewhere(Active& a, kj::Maybe<ExternalEnd>& external, int code, int signal) {
  // What Slurm says ended an attempt decides over the shim's result when
  // taskctl did not stop it itself (docs/slurm.md, "States and limits"). A
  // stop of ours (cancel, timeout, heartbeat) keeps its own reason: the
  // job's CANCELLED is then taskctl's doing.
  KJ_IF_MAYBE (x, external) {
    if (a.cancelRequested() || a.stopReason != EndReason::NONE) return false;
    switch (x->kind) {
      case ExternalEnd::Kind::OOM:
        return false;  // the caller's oom branch, with Slurm's word
      case ExternalEnd::Kind::TIMEOUT:
        finish(a, TaskState::FAILED, EndReason::TIMEOUT, x->message, code, signal);
        return true;
      case ExternalEnd::Kind::LOST:
        runner.stopRemains(a.attempt());
        finish(a, TaskState::FAILED, EndReason::LOST, x->message, -1, 0);
        return true;
      case ExternalEnd::Kind::PREEMPTED: {
        // Run again at no cost to --retries: the job never requeues itself
        // (--no-requeue), taskctl does, as a new attempt.
        auto task = record(a);
        task.setUncountedAttempts(task.getUncountedAttempts() + 1);
        requeue(a, x->message, EndReason::PREEMPTED);
        return true;
      }
      case ExternalEnd::Kind::CANCELLED_ELSEWHERE:
        finish(a, TaskState::FAILED, EndReason::SIGNAL, x->message, -1,
               signal != 0 ? signal : SIGTERM);
        return true;
    }
  }
  return false;
}

void Scheduler::ingest(Active& a, kj::Maybe<kj::Own<ExecOutcome>> outcome,
                       kj::Maybe<ExternalEnd> external) {
  // Called for an attempt that held a slot; `a` may be gone when this returns.
  auto task = record(a);
  auto attempt = a.attempt();
  auto& queue = queueOf(a);
  queues.slotFreed(queue, a.uid);
  endPause(a);  // it ended while paused (killed for memory, say)
  a.live().execution = nullptr;
  a.live().timeoutTimer = nullptr;
  a.live().heartbeatTimer = nullptr;
  a.live().notifySocket = nullptr;
  attempt.setEndedAt(now());
  // Followers of this attempt's log hear of its end once it is durable.
  if (!a.live().attemptWaiters.empty()) {
    auto waiters = kj::mv(a.live().attemptWaiters);
    tasks.add(commit.durable().then([waiters = kj::mv(waiters)]() mutable {
      for (auto& w : waiters) w->fulfill();
    }));
  }
  uint64_t id = task.getId();
  uint32_t number = attempt.getNumber();

  KJ_IF_MAYBE (o, outcome) {
    auto r = (*o)->get();
    // Two ends mean "no user code ran" (DESIGN 9). `notStarted` alone: the
    // go fd closed unwritten (the daemon died or gave the attempt up), so
    // the attempt goes back to the queue. The shim's own refusal of the
    // command (spawnFailed; from a shim older than this daemon, notStarted
    // with its reason in the message) would refuse every attempt alike:
    // requeued, it would loop for ever and hold its slot, so it ends the
    // task, `failed`, reason `spawn`, with the shim's words.
    bool refused = r.getSpawnFailed() || (r.getNotStarted() && r.getMessage().size() > 0);
    if (r.getNotStarted() && !refused) {
      if (a.cancelRequested()) {
        finish(a, TaskState::CANCELLED, EndReason::CANCELLED,
               a.stopMessage().size() ? a.stopMessage() : "cancelled before it started"_kj, -1, 0);
      } else {
        requeue(a, "the command was never started (the daemon stopped first)");
      }
      return;
    }
    if (r.getStartedAt() && r.getEndedAt()) {
      attempt.setStartedAt(r.getStartedAt());
      attempt.setEndedAt(r.getEndedAt());
      attempt.setWallUsec((r.getEndedAt() - r.getStartedAt()) / 1000);
    }
    attempt.setCpuUserUsec(r.getCpuUserUsec());
    attempt.setCpuSystemUsec(r.getCpuSystemUsec());
    attempt.setPeakMemoryBytes(r.getPeakMemoryBytes());
    attempt.setOutputTail(readTail(runner.logPath(id, number)));
    attempt.setOomKills(r.getOomKills());
    int code = r.getExitCode(), signal = r.getSignal();
    bool oomElsewhere = false;
    KJ_IF_MAYBE (x, external) {
      oomElsewhere = x->kind == ExternalEnd::Kind::OOM;
    }
    if (!refused && endedElsewhere(a, external, code, signal)) return;
    if (refused) {
      if (r.getNotStarted()) code = 126;  // an older shim's refusal: it could not run it
      finish(a, TaskState::FAILED, EndReason::SPAWN, r.getMessage(), code, 0);
    } else if (a.cancelRequested()) {
      finish(a, TaskState::CANCELLED, EndReason::CANCELLED,
             a.stopMessage().size() ? a.stopMessage() : "cancelled by a user"_kj, code, signal);
    } else if (a.stopReason == EndReason::TIMEOUT || a.stopReason == EndReason::HEARTBEAT) {
      finish(a, TaskState::FAILED, a.stopReason, stoppedBecause(a), code, signal);
    } else if ((r.getOomKills() > 0 || oomElsewhere) && !(signal == 0 && code == 0)) {
      // Its own reason, not a plain SIGKILL: the limit, not a person, ended it.
      uint64_t memory = attemptMemoryMaxBytes(task, attempt);
      finish(a, TaskState::FAILED, EndReason::OOM,
             memory ? kj::str("killed for memory (limit ", formatBytes(memory), ")")
                    : kj::str("killed for memory"),
             code, signal);
    } else if (signal != 0) {
      finish(a, TaskState::FAILED, EndReason::SIGNAL, signalText(signal), -1, signal);
    } else if (code == 0) {
      finish(a, TaskState::SUCCEEDED, EndReason::EXIT, "exited with status 0", 0, 0);
    } else {
      finish(a, TaskState::FAILED, EndReason::EXIT, kj::str("exited with status ", code), code, 0);
    }
  } else if (a.cancelRequested()) {
    finish(a, TaskState::CANCELLED, EndReason::CANCELLED,
           a.stopMessage().size() ? a.stopMessage() : "cancelled by a user"_kj, -1, 0);
  } else if (endedElsewhere(a, external, -1, 0)) {
    return;
  } else if (a.stopReason == EndReason::TIMEOUT || a.stopReason == EndReason::HEARTBEAT) {
    // Ours to stop, and stopped before its shim could write a result (a
    // Slurm job whose TERM came while its script was still starting the
    // shim): it ended for our reason, it did not vanish.
    finish(a, TaskState::FAILED, a.stopReason,
           kj::str(stoppedBecause(a), " (stopped before it reported an end)"), -1, 0);
  } else {
    // Whatever of it may still run (a command that outlived its killed shim)
    // must not run on beside a retry.
    runner.stopRemains(attempt);
    finish(a, TaskState::FAILED, EndReason::LOST,
           "the execution vanished without a result (its shim was killed or the machine "
           "rebooted)",
           -1, 0);
  }
}

void Scheduler::requeue(Active& a, kj::StringPtr why, EndReason reason) {
  a.live().notifySocket = nullptr;
  auto attempt = a.attempt();
  // A preempted attempt ran and ended; one never started is only given up.
  attempt.setState(reason == EndReason::NOT_STARTED ? TaskState::QUEUED : TaskState::FAILED);
  attempt.setReason(reason);
  attempt.setMessage(why);
  setState(a, TaskState::QUEUED);
  persist(a);
  uint64_t id = a.id();
  uint32_t number = attempt.getNumber();
  tasks.add(commit.durable().then([this, id, number]() { runner.release(id, number); }));
  a.hasAttempt = false;
  endAttempt(a);  // back to the summary once durable
  enqueue(a);
}

void Scheduler::finish(Active& a, TaskState state, EndReason reason, kj::StringPtr message,
                       int exitCode, int signal) {
  if (state == TaskState::FAILED && shouldRetry(a, reason, exitCode)) {
    retryLater(a, reason, message, exitCode, signal);
    return;
  }
  clearDeadline(a);
  deadlines.arm();  // a cancelled waiter's deadline may have been the earliest
  releaseKey(a);
  auto task = record(a);
  setState(a, state);
  task.setReason(reason);
  task.setMessage(message);
  task.setExitCode(exitCode);
  task.setSignal(signal);
  task.setFinishedAt(now());
  kj::Maybe<uint32_t> number;
  if (a.hasAttempt) {
    auto attempt = a.attempt();
    attempt.setState(state);
    attempt.setReason(reason);
    attempt.setMessage(message);
    attempt.setExitCode(exitCode);
    attempt.setSignal(signal);
    if (attempt.getEndedAt() == 0) attempt.setEndedAt(task.getFinishedAt());
    number = attempt.getNumber();
  }
  persist(a);
  uint64_t id = task.getId();
  kj::StringPtr ended = stateName(state);
  KJ_LOG(INFO, "task ended", id, ended, message);
  switch (state) {
    case TaskState::SUCCEEDED:
      endedSucceeded++;
      break;
    case TaskState::FAILED:
      endedFailed++;
      break;
    default:
      endedCancelled++;
      break;
  }
  if (state == TaskState::FAILED) queues.pauseOnFailure(queueOf(a), id, message);
  queues.countOut(queueOf(a), a.uid);  // no longer counts against its owner's quotas
  KJ_IF_MAYBE (hook, finishedHook) (*hook)(id, task.getFinishedAt());
  auto it = active.find(id);  // erased below: the iterator, not find()
  KJ_ASSERT(it != active.end());
  // Out of the table, which keeps the slot (and `a`, for callers that read
  // its queue after this) until it compacts.
  auto owned = kj::heap<Active>(kj::mv(*it->second));
  active.erase(it);
  // Staged: a drain holds no record until it is durable.
  if (owned->rest != nullptr) owned->rest->message = nullptr;
  // Write the record, then act: waiters and dependents hear of the end once
  // it is durable (a dependent reads the dependency's end from the store).
  tasks.add(commit.durable().then([this, owned = kj::mv(owned), id, number]() mutable {
    if (owned->extraOrNull() != nullptr) {
      for (auto& waiter : owned->extraOrNull()->waiters) waiter->fulfill();
    }
    KJ_IF_MAYBE (n, number) runner.release(id, *n);
    dependencyEnded(id);
    if (owned->key().size() > 0) keyReleased(owned->uid, owned->key());
    owned = nullptr;
    taskLeft();
  }));
}

kj::Promise<void> Scheduler::whenTerminal(uint64_t id) {
  KJ_IF_MAYBE (a, find(id)) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    a->extra().waiters.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  }
  return commit.flushed();
}

void Scheduler::leftReady(Queue& queue, uint32_t uid) {
  queue.ready.cancelled(uid);
  if (queue.ready.staleCount() > queue.ready.size() + 4096) {
    queue.ready.compact([&](uint64_t id) { return readyIsLive(queue, id); });
  }
}

kj::Promise<void> Scheduler::cancel(uint64_t id) {
  auto* found = find(id);
  if (found == nullptr) return commit.flushed();  // already terminal: nothing to do
  auto& a = *found;
  switch (a.state) {
    case TaskState::QUEUED:
    case TaskState::WAITING:
    case TaskState::RETRYING: {
      auto& queue = queueOf(a);
      uint32_t uid = a.uid;
      bool ready = a.state == TaskState::QUEUED;  // the others wait outside it
      auto why =
          a.stopMessage().size() ? kj::mv(a.extra().stopMessage) : kj::str("cancelled by a user");
      finish(a, TaskState::CANCELLED, EndReason::CANCELLED, why, -1, 0);
      if (ready) {
        leftReady(queue, uid);  // its id is skipped: the task is no longer active
      }
      return commit.durable();
    }
    case TaskState::STARTING:
      // launch() sees the reason: the command is never told to go.
      if (a.stopReason == EndReason::NONE) a.stopReason = EndReason::CANCELLED;
      return kj::READY_NOW;
    case TaskState::RUNNING:
      stopExecution(a, EndReason::CANCELLED);
      return kj::READY_NOW;
    case TaskState::PAUSED:
      // Thawed first: a stopped process gets its SIGTERM only once
      // continued, and a frozen one not at all. Then as a running one.
      KJ_LOG(INFO, "cancel of a paused task: resumed to be stopped", id);
      tasks.add(thaw(a));
      persist(a, "resumed");
      stopExecution(a, EndReason::CANCELLED);
      return commit.durable();
    default:
      return kj::READY_NOW;
  }
}

void Scheduler::stopExecution(Active& a, EndReason why) {
  if (a.stopReason != EndReason::NONE) return;  // already on its way out
  a.stopReason = why;
  uint64_t taskId = a.id();
  kj::StringPtr reason = reasonName(why);
  KJ_LOG(INFO, "stopping an execution: SIGTERM", taskId, reason);
  KJ_IF_MAYBE (execution, a.live().execution) {
    (*execution)->kill(SIGTERM);
  }
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  uint64_t grace = record(a).getLimits().getKillGraceUsec();
  if (grace == 0) grace = spec::DEFAULT_KILL_GRACE_USEC;  // stored before it was stored as in force
  kj::Duration wait = int64_t(grace) * kj::MICROSECONDS;
  // Escalate if it is still there after the grace period. Owned by `a`: it
  // ends with the attempt.
  a.live().graceTimer =
      timer.afterDelay(wait)
          .then([this, id, number]() {
            auto* found = find(id);
            if (found == nullptr) return;
            auto& a = *found;
            if (a.attempts != number || !a.hasAttempt) return;
            KJ_IF_MAYBE (execution, a.live().execution) {
              KJ_LOG(INFO, "kill grace over: SIGKILL", id, number);
              (*execution)->kill(SIGKILL);
            }
          })
          .eagerlyEvaluate([](kj::Exception&& e) { KJ_LOG(ERROR, "kill failed", e); });
}

void Scheduler::openNotify(Active& a) {
  auto task = record(a);
  auto attempt = a.attempt();
  auto path = attempt.getNotifySocket().size() ? kj::str(attempt.getNotifySocket())
                                               : notify.pathFor(task.getId(), attempt.getNumber());
  uint64_t id = task.getId();
  uint32_t number = attempt.getNumber();
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 a.live().notifySocket = notify.open(path, task.getUid(), task.getGid(),
                                                     [this, id, number](AttemptNotice&& notice) {
                                                       onNotice(id, number, kj::mv(notice));
                                                     });
                 attempt.setNotifySocket(path);
               })) {
    // Not fatal: the task runs, without NOTIFY_SOCKET (so without heartbeat).
    KJ_LOG(WARNING, "cannot open the attempt's notify socket", id, number, e->getDescription());
    attempt.setNotifySocket("");
  }
}

void Scheduler::onNotice(uint64_t id, uint32_t number, AttemptNotice&& notice) {
  auto* found = findAttempt(id, number);
  if (found == nullptr) return;
  auto& a = *found;
  auto attempt = a.attempt();
  if (notice.watchdogTrigger) {
    // As systemd: the task itself says it is stuck. Ended as a missed
    // heartbeat is (TERM, grace, KILL; reason `heartbeat`, retried under
    // --retry-on heartbeat), with or without --heartbeat.
    if (a.state == TaskState::RUNNING && a.stopReason == EndReason::NONE) {
      KJ_LOG(INFO, "the task sent WATCHDOG=trigger", id, number);
      a.live().watchdogTriggered = true;
      stopExecution(a, EndReason::HEARTBEAT);  // then neither an extension nor a heartbeat counts
    }
  }
  KJ_IF_MAYBE (usec, notice.extendTimeoutUsec) {
    extendTimeout(a, *usec);
  }
  KJ_IF_MAYBE (text, notice.malformedProgress) {
    // Once per attempt: a task that sends a bad value in a loop must not
    // flood the journal, but its author should learn why no progress shows.
    if (!a.live().malformedProgressLogged) {
      a.live().malformedProgressLogged = true;
      KJ_LOG(WARNING,
             "X_TASKCTL_PROGRESS= is not a fraction (0.4) or a percentage (40%); ignored, and "
             "further bad values of this attempt are not logged",
             id, number, *text);
    }
  }
  KJ_IF_MAYBE (p, notice.progress) {
    attempt.setProgress(*p);
    events.progress(id, a.uid, number, *p);  // live only, never stored
  }
  KJ_IF_MAYBE (text, notice.status) {
    // Kept short: it is shown in one line and stored with every write.
    attempt.setStatusText(text->size() > 1024 ? kj::str(text->slice(0, 1024)) : kj::mv(*text));
  }
  // Every datagram from the task is a sign of life, whatever it says, not
  // only WATCHDOG=1 (docs/cli.md, "Heartbeats").
  armHeartbeat(a);
  if (notice.progress == nullptr && notice.status == nullptr) return;
  // Stored at most once a second per attempt; status shows the live value.
  int64_t t = now();
  auto& live = a.live();
  if (t - live.progressStoredAt >= 1'000'000'000) {
    live.progressStoredAt = t;
    persist(a);
  } else if (!live.progressWritePending) {
    live.progressWritePending = true;
    auto wait = (live.progressStoredAt + 1'000'000'000 - t) * kj::NANOSECONDS;
    tasks.add(timer.afterDelay(wait).then([this, id, number]() {
      auto* found = findAttempt(id, number);
      if (found == nullptr) return;
      auto& a = *found;
      a.live().progressWritePending = false;
      a.live().progressStoredAt = now();
      persist(a);
    }));
  }
}

void Scheduler::armHeartbeat(Active& a) {
  if (a.stopReason != EndReason::NONE || !a.hasAttempt) return;
  if (a.state == TaskState::PAUSED) return;  // its clock stops while paused
  uint64_t heartbeat = record(a).getLimits().getHeartbeatUsec();
  if (heartbeat == 0) return;
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  a.live().heartbeatTimer =
      timer.afterDelay(int64_t(heartbeat) * kj::MICROSECONDS)
          .then([this, id, number]() {
            KJ_IF_MAYBE (a, findAttempt(id, number)) {
              stopExecution(*a, EndReason::HEARTBEAT);
            }
          })
          .eagerlyEvaluate([](kj::Exception&& e) { KJ_LOG(ERROR, "heartbeat check failed", e); });
}

kj::Maybe<records::Attempt::Reader> Scheduler::liveAttempt(uint64_t id) {
  auto* found = find(id);
  if (found == nullptr) return nullptr;
  auto& a = *found;
  if (!a.hasAttempt) return nullptr;
  return a.attempt().asReader();
}

void Scheduler::armTimeout(Active& a) {
  uint64_t timeout = attemptTimeoutUsec(record(a), a.attempt());
  if (timeout == 0 || a.stopReason != EndReason::NONE) return;
  if (a.state == TaskState::PAUSED) return;  // its clock stops while paused
  timeout = kj::max(timeout, a.attempt().getExtendedTimeoutUsec());
  // From the attempt's start, so a re-adopted attempt keeps its deadline;
  // its paused time does not count.
  int64_t elapsedUsec = runningUsec(a);
  int64_t left = int64_t(timeout) - kj::max(elapsedUsec, int64_t(0));
  uint64_t id = a.id();
  uint32_t number = a.attempt().getNumber();
  a.live().timeoutTimer =
      timer.afterDelay(kj::max(left, int64_t(0)) * kj::MICROSECONDS)
          .then([this, id, number]() {
            KJ_IF_MAYBE (a, find(id)) {
              if (a->attempts == number) stopExecution(*a, EndReason::TIMEOUT);
            }
          })
          .eagerlyEvaluate([](kj::Exception&& e) { KJ_LOG(ERROR, "timeout failed", e); });
}

void Scheduler::extendTimeout(Active& a, uint64_t usec) {
  // systemd's EXTEND_TIMEOUT_USEC on a running unit: the runtime deadline
  // becomes at least now + usec; it never comes sooner, and the heartbeat is
  // not its business. Without a timeout there is no deadline to move.
  if (a.state != TaskState::RUNNING || a.stopReason != EndReason::NONE) return;
  auto attempt = a.attempt();
  uint64_t timeout = attemptTimeoutUsec(record(a), attempt);
  if (timeout == 0) return;
  uint64_t elapsedUsec = uint64_t(runningUsec(a));  // its paused time does not count
  // Bounded as a timeout is: the queue's max_timeout where it sets one, else
  // the most --timeout takes, a year from the start. (Only `update` by root
  // or the admin group goes past the queue's maximum.)
  uint64_t bound = MAX_TIMEOUT_USEC;
  uint64_t queueMax = queueOf(a).defaults.maxTimeoutUsec;
  if (queueMax != 0) bound = kj::min(bound, queueMax);
  uint64_t wanted = usec > bound - kj::min(elapsedUsec, bound) ? bound : elapsedUsec + usec;
  uint64_t current = kj::max(timeout, attempt.getExtendedTimeoutUsec());
  if (wanted <= current) return;
  // Stored with the attempt (written with its next commit), so a daemon
  // restart re-arms the moved deadline.
  attempt.setExtendedTimeoutUsec(wanted);
  persist(a);
  armTimeout(a);
}

}  // namespace taskctl
