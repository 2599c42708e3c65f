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
#include <task-spec.capnp.h>

#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/task-words.h"
#include "config/config.h"
#include "events/event-log.h"
#include "runner/runner.h"
#include "scheduler/deadlines.h"
#include "scheduler/fair-share.h"
#include "scheduler/id-table.h"
#include "scheduler/identity.h"
#include "scheduler/key-registry.h"
#include "scheduler/notify-hub.h"
#include "scheduler/queue-table.h"
#include "scheduler/wall-timer.h"
#include "store/group-commit.h"
#include "store/store.h"

namespace taskctl {

// The contract's bounds on a submit (priority range, key length, retries, ...)
// are the constants of schema/task-spec.capnp (spec::MAX_RETRIES, ...), read
// by client and daemon alike; task-spec-check.h checks them.

// What a submit carries besides the task itself.
struct SubmitExtras {
  bool seesAll = false;  // root or the admin group: may depend on anyone's task
  bool exempt = false;   // root or the admin group: no per-user quota, any priority
  uint64_t rerunOf = 0;  // `rerun`: the task the new one is made from (records.Task.rerunOf)
};

// What an edit carries besides the new spec (Scheduler::edit).
struct EditExtras {
  bool seesAll = false;     // root or the admin group: may depend on anyone's task
  bool exempt = false;      // root or the admin group: no per-user quota, any priority
  bool startGiven = false;  // the spec's delayUsec/notBefore replace the task's start time
};

class Scheduler final : private kj::TaskSet::ErrorHandler {
 public:
  // Every reference outlives the scheduler. `timer` follows the monotonic
  // clock (delays, backoff, timeouts); `clock` and `wallTimer` the realtime
  // one (`--at`, stored times).
  Scheduler(Store& store, GroupCommit& commit, EventLog& events, Runner& runner, NotifyHub& notify,
            kj::Timer& timer, const kj::Clock& clock, WallTimer& wallTimer, const Config& config);
  ~Scheduler() noexcept(false);

  void recover();
  // Startup is recovery: reconciles every task that is not terminal (DESIGN 9).
  // Call once, before serving. Nothing is dispatched until start().

  void start();
  // Begins dispatching (call once the daemon is ready: a task's recorded
  // start then never precedes the daemon's READY).

  kj::Promise<uint64_t> submit(spec::TaskSpec::Reader request, const Identity& owner,
                               SubmitExtras extras = {});
  // Validates `request` (task-spec-check.h, then its queue, its dependencies,
  // delay and --at), stores a task made of it for `owner` and
  // resolves with its id once that is durable. Rejects with a message for a
  // person, changing nothing, when the task is invalid or the store refuses
  // it. A known request id, or a `skip` key conflict, resolves with the
  // existing task's id and creates nothing.

  void validate(spec::TaskSpec::Reader request);
  // Refuses (a message for a person naming the field) what submit() would
  // refuse of `request` itself, without looking at the store or changing
  // anything: its fields, their sizes and its queue (not its dependencies,
  // delay or --at). For a schedule's stored submit options, at `schedule add`.

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
    size_t queued = 0, running = 0, waiting = 0, retrying = 0;
    // Tasks that reached each terminal state since the daemon started.
    uint64_t succeeded = 0, failed = 0, cancelled = 0;
  };
  Counts counts();

  kj::String waitingFor(records::Task::Reader task);
  // For a person: why a task that has not started is not running (held,
  // what a waiting one waits for, a retrying one's backoff, a paused queue;
  // "" otherwise, and for a queued one in a queue that is not paused: see
  // slotHolders).

  kj::Promise<void> hold(kj::ArrayPtr<const uint64_t> ids, bool held);
  // `hold` (held) or `release` the tasks, all or none (scheduler-hold.c++):
  // holding one that has started or ended is refused, changing nothing.
  // Resolves once the change is durable.

  kj::Promise<void> edit(uint64_t id, spec::TaskSpec::Reader request, EditExtras extras);
  // `edit` (scheduler-edit.c++): task `id`, which has not started (waiting
  // or queued, no attempt of it ran), takes `request` (the whole new spec,
  // its request id aside) as a submit of it would: checked the same way (a
  // dependency must be older than `id`), all or nothing, then re-queued,
  // re-keyed and re-timed from `waiting`. Without extras.startGiven its
  // start time stays. Resolves once the change is durable.
  void requireEditable(uint64_t id);
  // Refuses (a message for a person) a task edit() would refuse for its
  // state: started, running, retrying, ended.
  // `taskctl update` (scheduler-update.c++). 0: leave that limit as it is.
  struct LimitUpdate {
    uint64_t timeoutUsec = 0;
    bool timeoutRelative = false;  // add timeoutUsec to the current timeout
    uint64_t cpuQuotaPerSecUsec = 0;
    uint64_t memoryMaxBytes = 0;
    uint64_t tasksMax = 0;
    uid_t by = 0;         // who asks (recorded with the task)
    bool exempt = false;  // root or the admin group: may go past the queue's maximums
  };
  kj::Promise<void> update(uint64_t id, LimitUpdate change);
  // Changes a task's limits: a running one's at once (its execution's
  // memory, CPU and tasks limits through the runner, its timeout re-armed
  // from its start) and for its later attempts; a waiting, queued or
  // retrying one's stored limits. Refuses (changing nothing) a starting or
  // ended task, a limit out of range, a raise past the queue's maximum
  // unless `exempt`, and a memory, CPU or tasks limit on an execution whose
  // runner cannot change it. Resolves once the change and its event
  // ("updated") are durable.

  kj::Promise<void> pause(kj::ArrayPtr<const uint64_t> ids, bool paused);
  // `pause` (paused) or `resume` the tasks' running executions, all or none
  // (scheduler-pause.c++): a task that is not running (or paused) is
  // refused, changing nothing. Resolves once every execution is frozen
  // (thawed) and the change is durable; rejects if one could not be frozen
  // (that one is running again).

  struct SlotHolders {
    uint32_t concurrency = 0;
    kj::Vector<uint64_t> ids;  // the tasks taking its slots (starting, running)
    bool fairShare = false;    // a free slot goes to the user running fewest there
    uint32_t uidRunning = 0;   // slots `uid` holds there
  };
  SlotHolders slotHolders(kj::StringPtr queue, uint32_t uid);

  // Queues at run time. Changes persist in the store and win over the TOML.
  using QueueInfo = taskctl::QueueInfo;  // queue-table.h
  kj::Vector<QueueInfo> queueList();
  kj::Promise<QueueInfo> setConcurrency(kj::StringPtr queue, kj::Maybe<uint32_t> concurrency,
                                        uid_t by);
  // null: back to the TOML's value. Takes effect at once: lowering it starts
  // nothing new until fewer run than the new value.
  kj::Promise<QueueInfo> setPaused(kj::StringPtr queue, bool paused, uid_t by);

  // `drain` / `undrain` (scheduler-drain.c++): while drained no queue starts
  // anything new; running work goes on. Stored in the meta record
  // (Store::drainState), so a restart keeps it.
  bool drained() const { return isDrained; }
  kj::Promise<uint32_t> drain(bool drained, bool wait, uid_t by);
  // Resolves, once the change is durable, with the executions still
  // starting or running; with `wait` (drained only) once that is 0 and the
  // last one's end is durable. An undrain rejects the waiting ones. Drain
  // on a drained daemon (undrain on one that is not) changes nothing.

  void onTaskFinished(kj::Function<void(uint64_t id, int64_t finishedAt)> fn);
  // Called for every task that becomes terminal, once that is staged (retention).

 private:
  struct Active;
  using Queue = QueueTable::Queue;

  Store& store;
  GroupCommit& commit;
  EventLog& events;
  Runner& runner;
  NotifyHub& notify;
  kj::Timer& timer;
  const kj::Clock& clock;
  // Queues, their run-time settings, and what each user holds in them.
  QueueTable queues;
  IdTable<Active> active;  // every task that is not terminal, inline (id-table.h)
  kj::TaskSet tasks;
  bool dispatching = false;

  uint64_t endedSucceeded = 0, endedFailed = 0, endedCancelled = 0;  // since start
  std::mt19937_64 random;                                            // backoff jitter

  // Dependencies and key waits: who waits on a task's end (dependency id ->
  // dependent id). Checked when the dependency's end is durable.
  std::multimap<uint64_t, uint64_t> dependents;
  // Unique keys (holders and waiters, submits not yet durable included) and
  // request ids (the pending submits' answers, the store's mappings).
  KeyRegistry keys;
  // Timed waits (delays, --at, backoff): due ones come back to advance().
  Deadlines deadlines;
  kj::Maybe<kj::Function<void(uint64_t, int64_t)>> finishedHook;
  bool isDrained = false;  // Store::drainState(), read at construction
  kj::Vector<kj::Own<kj::PromiseFulfiller<uint32_t>>> drainWaiters;  // `drain --wait`

  // Memory handed back to the system (malloc_trim, the store's mapped
  // pages) once this many tasks left since the last time: a drain of a big
  // queue leaves no heap behind.
  static constexpr size_t TRIM_AFTER_ENDS = 4096;
  size_t endedSinceTrim = 0;
  bool trimScheduled = false;

  void taskFailed(kj::Exception&& exception) override;
  Active* find(uint64_t id);  // null when the task is not active (KJ_IF_MAYBE reads it)
  Active* findAttempt(uint64_t id, uint32_t attempt);  // null unless that attempt is live
  int64_t now();
  Queue& queueOf(records::Task::Reader task);
  Queue& queueOf(Active& task);
  records::Task::Builder record(Active& task);
  // The task's full record: in memory while it has an attempt or a write of
  // it is not durable yet; otherwise read from the store (DESIGN 11).
  void setState(Active& task, records::TaskState state);  // memory and record
  void dropRecord(Active& task);  // once nothing needs the full record in memory
  Active compactOf(records::Task::Reader task);
  void taskLeft();
  void endAttempt(Active& task);  // drops what only the attempt needed
  bool readyIsLive(Queue& queue, uint64_t id);
  void leftReady(Queue& queue, uint32_t uid);
  // A ready task of `uid` left `queue`'s ready list (cancel, hold): its id
  // goes stale there, skipped when reached; the list is compacted once stale
  // ids outnumber live ones by 4096, so a flood of cancels costs no scan each.
  void enqueue(Active& task);
  void dispatch(Queue& queue);
  void beginAttempt(Active& task);
  void prepareAttempt(Active& task);  // the next attempt as `starting`, in memory only
  bool startsAtSubmit(Queue& queue);
  void launch(uint64_t id, uint32_t number);
  void watch(Active& task, kj::Own<Execution> execution);
  void onExit(uint64_t id, uint32_t number);
  void ingest(Active& task, kj::Maybe<kj::Own<ExecOutcome>> outcome,
              kj::Maybe<ExternalEnd> external = nullptr);
  bool endedElsewhere(Active& task, kj::Maybe<ExternalEnd>& external, int code, int signal);
  kj::String stoppedBecause(Active& task);
  void requeue(Active& task, kj::StringPtr why,
               records::EndReason reason = records::EndReason::NOT_STARTED);
  void finish(Active& task, records::TaskState state, records::EndReason reason,
              kj::StringPtr message, int exitCode, int signal);
  void persist(Active& task, kj::StringPtr action = nullptr);
  // `action` ("held", "released"): an event even when the state is the same.
  void reconcile(Active& task);
  void armTimeout(Active& task);
  void applyUpdate(Active& task, const LimitUpdate& change);  // checked and resolved
  void extendTimeout(Active& task, uint64_t usec);            // EXTEND_TIMEOUT_USEC=
  void armHeartbeat(Active& task);
  int64_t runningUsec(Active& task);     // the attempt's time so far, its pauses left out
  void endPause(Active& task);           // a pause's time joins the attempt's paused time
  void markPaused(Active& task);         // running -> paused in memory; its clocks stop
  kj::Promise<void> thaw(Active& task);  // paused -> running in memory, and thaws
  void openNotify(Active& task);
  void onNotice(uint64_t id, uint32_t attempt, AttemptNotice&& notice);
  void stopExecution(Active& task, records::EndReason why);
  kj::Promise<uint64_t> submitNow(spec::TaskSpec::Reader request, const Identity& owner,
                                  SubmitExtras extras);
  kj::Promise<uint64_t> submitLater(spec::TaskSpec::Reader request, const Identity& owner,
                                    SubmitExtras extras);
  void validateDependencies(spec::TaskSpec::Reader request, const Identity& owner,
                            SubmitExtras extras);
  Queue& resolve(spec::TaskSpec::Reader request, spec::TaskLimits::Builder limits);
  // The request's queue, and its limits in force in `limits`; checks the
  // request first (task-spec-check.h).
  void admit(Active& task);
  void advance(Active& task);
  void makeQueued(Active& task);
  enum class Verdict { PENDING, HOLDS, NEVER };
  Verdict verdictOn(uint64_t id, spec::DependencyCondition condition, kj::String& why);
  void dependencyEnded(uint64_t id);
  bool shouldRetry(Active& task, records::EndReason reason, int exitCode);
  void retryLater(Active& task, records::EndReason reason, kj::StringPtr message, int exitCode,
                  int signal);
  void setDeadline(Active& task, int64_t realtimeNs, bool wallClock);
  void clearDeadline(Active& task);
  void releaseKey(Active& task);
  bool holdsKey(Active& task);
  void keyReleased(uint32_t uid, kj::StringPtr key);
  uint32_t waitingIn(Queue& queue);  // its tasks waiting or retrying
  kj::Promise<QueueInfo> afterSettingsChange(Queue& queue);
  void drainIdle();  // the last execution ended: `drain --wait` may answer
  // TERM to the whole execution, the task's kill grace, then KILL. The first
  // reason given is the one the attempt ends with.
};

}  // namespace taskctl
