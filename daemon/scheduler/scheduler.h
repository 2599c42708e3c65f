// The scheduler: queues, priorities, concurrency slots and the task state
// machine (DESIGN 5). It owns every task that is not terminal, in memory,
// and writes each change to the Store before acting on it (DESIGN 9).
//
// Dispatch is event-driven: a submit, an exit or a cancel starts the next
// executions in the same loop turn. Nothing here polls. Time comes from a
// kj::Clock so that tests use a fake one; executions come from a Runner so
// that tests use a fake one.
#pragma once

#include <capnp/message.h>
#include <kj/async.h>
#include <kj/map.h>
#include <kj/time.h>
#include <kj/timer.h>

#include <map>
#include <set>

#include "config/config.h"
#include "runner/runner.h"
#include "scheduler/identity.h"
#include "scheduler/notify-hub.h"
#include "store/group-commit.h"
#include "store/store.h"

namespace taskctl {

constexpr size_t MAX_COMMAND_BYTES = 1 << 20;  // argv + env of one task
constexpr int32_t MIN_PRIORITY = -100, MAX_PRIORITY = 100;

int exitStatusOf(records::Task::Reader task);
// What `taskctl wait` exits with for a terminal task (DESIGN 8).

kj::StringPtr stateName(records::TaskState state);
kj::StringPtr reasonName(records::EndReason reason);

class Scheduler final: private kj::TaskSet::ErrorHandler {
 public:
  struct Options {
    kj::Duration killGrace = 10 * kj::SECONDS;
  };
  // Every reference outlives the scheduler.
  Scheduler(Store& store, GroupCommit& commit, Runner& runner, NotifyHub& notify,
            kj::Timer& timer, const kj::Clock& clock, const Config& config, Options options);
  ~Scheduler() noexcept(false);

  void recover();
  // Startup is recovery: reconciles every task that is not terminal (DESIGN 9).
  // Call once, before serving. Nothing is dispatched until start().

  void start();
  // Begins dispatching (call once the daemon is ready: a task's recorded
  // start then never precedes the daemon's READY).

  kj::Promise<uint64_t> submit(records::Task::Reader request, const Identity& owner);
  // Validates `request` (its argv, env, cwd, umask, queue, priority and labels;
  // every other field is ignored), stores a task made of it for `owner` and
  // resolves with its id once that is durable. Rejects with a message for a person, changing
  // nothing, when the task is invalid or the store refuses it.

  kj::Promise<void> cancel(uint64_t id);
  // Queued: cancelled at once. Running: SIGTERM to the whole execution, the
  // kill grace, then SIGKILL; it ends `cancelled`. A terminal task: nothing
  // to do. Resolves once the cancel is durable (for a running task: once it
  // is requested).

  kj::Promise<void> whenTerminal(uint64_t id);
  // Resolves once the task's terminal state is durable (at once if it is
  // not active: the caller reads the store).

  bool isActive(uint64_t id) const;

  bool attemptLive(uint64_t id, uint32_t attempt);

  kj::Maybe<records::Attempt::Reader> liveAttempt(uint64_t id);
  // The current attempt of an active task as it is now (progress and status
  // text are stored at most once a second; this is the latest). Valid until
  // the next loop turn.
  // The attempt is starting or running: its log may still grow.
  kj::Promise<void> whenAttemptEnds(uint64_t id, uint32_t attempt);
  // Resolves once that attempt's end is durable (at once if it is not live).
  void reloadQueues(const Config& config);

  struct Counts {
    size_t queued = 0, running = 0;
  };
  Counts counts() const;

 private:
  struct Active;
  struct Queue {
    kj::String name;
    uint32_t concurrency;
    uint32_t running = 0;  // slots taken: starting + running
    std::set<std::pair<int32_t, uint64_t>> ready;  // (-priority, id): dispatch order
    QueueConfig defaults;  // limits for tasks that do not set their own
  };

  Store& store;
  GroupCommit& commit;
  Runner& runner;
  NotifyHub& notify;
  kj::Timer& timer;
  const kj::Clock& clock;
  Options options;
  struct NameLess {
    using is_transparent = void;
    bool operator()(kj::StringPtr a, kj::StringPtr b) const { return a < b; }
  };
  std::map<kj::String, Queue, NameLess> queues;
  std::map<uint64_t, kj::Own<Active>> active;
  kj::TaskSet tasks;
  bool dispatching = false;

  void taskFailed(kj::Exception&& exception) override;
  int64_t now();
  Queue& queueOf(records::Task::Reader task);
  void enqueue(Active& task);
  void dispatch(Queue& queue);
  void beginAttempt(Active& task);
  void launch(uint64_t id, uint32_t number);
  void watch(Active& task, kj::Own<Execution> execution);
  void onExit(uint64_t id, uint32_t number);
  void ingest(Active& task, kj::Maybe<kj::Own<ExecOutcome>> outcome);
  void requeue(Active& task, kj::StringPtr why);
  void finish(Active& task, records::TaskState state, records::EndReason reason,
              kj::StringPtr message, int exitCode, int signal);
  void persist(Active& task);
  void reconcile(Active& task);
  void armTimeout(Active& task);
  void armHeartbeat(Active& task);
  void openNotify(Active& task);
  void onNotice(uint64_t id, uint32_t attempt, AttemptNotice&& notice);
  void stopExecution(Active& task, records::EndReason why);
  // TERM to the whole execution, the task's kill grace, then KILL. The first
  // reason given is the one the attempt ends with.
};

}  // namespace taskctl
