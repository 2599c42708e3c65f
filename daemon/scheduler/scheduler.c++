// The Scheduler (scheduler.h): construction, submits, and what it answers
// about its tasks and queues. Its other methods: the attempt lifecycle and
// dispatch in scheduler-attempts.c++, recovery and waiting (dependencies,
// delays, keys, retries) in scheduler-waits.c++; a task in memory is
// active.h's.
#include "scheduler/scheduler.h"

#include <kj/debug.h>
#include <string.h>

#include <algorithm>

#include "common/errors.h"
#include "scheduler/active.h"
#include "scheduler/submit-staging.h"
#include "scheduler/task-spec-check.h"

namespace taskctl {

using records::EndReason;
using records::TaskState;

namespace {

constexpr uint64_t YEAR_USEC = 366ull * 86400 * 1000000;

}  // namespace

Scheduler::Scheduler(Store& store, GroupCommit& commit, EventLog& events, Runner& runner,
                     NotifyHub& notify, kj::Timer& timer, const kj::Clock& clock,
                     WallTimer& wallTimer, const Config& config)
    : store(store),
      commit(commit),
      events(events),
      runner(runner),
      notify(notify),
      timer(timer),
      clock(clock),
      queues(store),
      tasks(*this),
      random(std::random_device{}()),
      keys(store),
      deadlines(timer, clock, wallTimer, [this](uint64_t id, bool elapsed) {
        KJ_IF_MAYBE (a, find(id)) {
          if (elapsed) a->elapsedWaitOver = true;
          advance(*a);
        }
      }) {
  reloadQueues(config);
  queues.loadSettings();                   // run-time settings win over the TOML until reset
  isDrained = store.drainState().drained;  // before recovery: nothing starts first
  queues.onIdle([this]() { drainIdle(); });
}

Scheduler::~Scheduler() noexcept(false) {}

void Scheduler::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "scheduler background work failed", exception);
}

int64_t Scheduler::now() { return (clock.now() - kj::UNIX_EPOCH) / kj::NANOSECONDS; }

void Scheduler::reloadQueues(const Config& config) {
  queues.reload(
      config, [this](Queue& queue, uint64_t id) { return readyIsLive(queue, id); },
      [this](Queue& queue, uint64_t id) {
        KJ_IF_MAYBE (a, find(id)) queue.ready.add(a->uid, a->priority, id);
      });
  for (auto& [name, queue] : queues) dispatch(queue);
}

Scheduler::Queue& Scheduler::queueOf(records::Task::Reader task) {
  return queues.ofTask(task.getQueue(), task.getId());
}

Scheduler::Queue& Scheduler::queueOf(Active& a) { return *a.queue; }

Scheduler::Active Scheduler::compactOf(records::Task::Reader task) {
  // A million queued tasks are a million of these (docs/design-notes.md).
  static_assert(sizeof(Active) <= 40, "Active is the per-task cost: keep it small");
  // Submits keep priorities in range; a stored one outside it (written by
  // hand?) is clamped rather than wrapped.
  auto priority = kj::max(spec::MIN_PRIORITY, kj::min(spec::MAX_PRIORITY, task.getPriority()));
  Active a(task.getId(), &queueOf(task), task.getUid(), task.getAttempts(), priority,
           task.getState());
  a.held = task.getHeld();
  auto after = task.getAfter();
  if (task.getKey().size() > 0 || after.size() > 0 || task.getNotBefore() != 0 ||
      task.getNextAttemptAt() != 0) {
    auto& extra = a.extra();
    extra.key = kj::str(task.getKey());
    extra.after = KJ_MAP(d, after) { return Active::Dependency{d.getId(), d.getCondition()}; };
    extra.notBefore = task.getNotBefore();
    extra.notBeforeWall = task.getNotBeforeWall();
    extra.nextAttemptAt = task.getNextAttemptAt();
  }
  return a;
}

bool Scheduler::readyIsLive(Queue& queue, uint64_t id) {
  // Cancelled while queued: gone from `active`. (Ids are never reused, and
  // a queued task leaves its queue only through pop() or cancel().)
  KJ_IF_MAYBE (a, find(id)) return a->state == TaskState::QUEUED && a->queue == &queue;
  return false;
}

bool Scheduler::isActive(uint64_t id) const { return active.count(id) > 0; }

Scheduler::Active* Scheduler::find(uint64_t id) {
  auto it = active.find(id);
  return it == active.end() ? nullptr : it->second;
}

Scheduler::Active* Scheduler::findAttempt(uint64_t id, uint32_t attempt) {
  KJ_IF_MAYBE (a, find(id)) {
    auto state = a->state;
    if (a->attempts == attempt && (state == TaskState::STARTING || state == TaskState::RUNNING ||
                                   state == TaskState::PAUSED)) {
      return a;
    }
  }
  return nullptr;
}

Scheduler::Counts Scheduler::counts() {
  Counts counts;
  for (auto& [name, q] : queues) {
    counts.queued += q.ready.size();
    counts.running += q.running;
  }
  for (auto& [id, a] : active) {
    auto state = a->state;
    counts.waiting += state == TaskState::WAITING;
    counts.retrying += state == TaskState::RETRYING;
  }
  counts.succeeded = endedSucceeded;
  counts.failed = endedFailed;
  counts.cancelled = endedCancelled;
  return counts;
}

kj::Promise<uint64_t> Scheduler::submit(spec::TaskSpec::Reader request, const Identity& owner,
                                        SubmitExtras extras) {
  // A submit racing another one with the same request id or key, whose
  // outcome is not durable yet, is decided once it is: then the store and
  // memory agree on who holds what.
  uint32_t uid = owner.uid;
  if (request.getRequestId().size() > 0) {
    KJ_IF_MAYBE (answer, keys.pending(uid, request.getRequestId())) return kj::mv(*answer);
  }
  if (request.getKey().size() > 0) {
    for (auto id : keys.holders(uid, request.getKey())) {
      if (active.count(id) == 0) return submitLater(request, owner, extras);
    }
  }
  return submitNow(request, owner, extras);
}

kj::Promise<uint64_t> Scheduler::submitLater(spec::TaskSpec::Reader request, const Identity& owner,
                                             SubmitExtras extras) {
  // The caller's request and identity need not outlive this call: copy them.
  auto message = kj::heap<capnp::MallocMessageBuilder>(request.totalSize().wordCount + 8);
  message->setRoot(request);
  Identity copy{owner.uid, owner.gid, kj::heapArray<gid_t>(owner.groups.asPtr())};
  return commit.flushed().then(
      [this, message = kj::mv(message), copy = kj::mv(copy), extras]() mutable {
        return submit(message->getRoot<spec::TaskSpec>().asReader(), copy, extras);
      });
}

void Scheduler::validateDependencies(spec::TaskSpec::Reader request, const Identity& owner,
                                     SubmitExtras extras) {
  auto after = request.getAfter();
  if (after.size() > spec::MAX_DEPENDENCIES) {
    refuse(kj::str(after.size(), " dependencies; the limit is ", spec::MAX_DEPENDENCIES));
  }
  for (auto dependency : after) {
    uint64_t id = dependency.getId();
    // Ids only point backwards, so cycles cannot exist; a foreign id reads
    // exactly like a missing one.
    kj::Maybe<uint32_t> ownerUid;
    KJ_IF_MAYBE (a, find(id)) {
      ownerUid = a->uid;
    } else KJ_IF_MAYBE (record, store.getTask(id)) {
      ownerUid = (*record)->get().getUid();
    } else KJ_IF_MAYBE (tombstone, store.getTombstone(id)) {
      ownerUid = (*tombstone)->get().getUid();
    }
    KJ_IF_MAYBE (u, ownerUid) {
      if (*u == owner.uid || extras.seesAll) continue;
    }
    refuse(kj::str("no such task: ", id, " (in --after)"));
  }
}

Scheduler::Queue& Scheduler::resolve(spec::TaskSpec::Reader request,
                                     spec::TaskLimits::Builder limits) {
  checkTaskSpec(request);
  kj::StringPtr queueName = request.getQueue().size() ? request.getQueue() : "default"_kj;
  auto it = queues.find(queueName);
  if (it == queues.end()) {
    kj::Vector<kj::StringPtr> names;
    for (auto& [name, q] : queues) names.add(name);
    refuse(kj::str("unknown queue \"", queueName, "\" (queues: ", kj::strArray(names, ", "), ")"));
  }
  resolveLimits(request.getLimits(), it->second.defaults, limits);
  checkRetryGrowth(request.getRetry(), limits.asReader());
  return it->second;
}

void Scheduler::validate(spec::TaskSpec::Reader request) {
  capnp::word scratch[16] = {};  // no allocation: limits are a few words
  capnp::MallocMessageBuilder message(scratch);
  resolve(request, message.initRoot<spec::TaskLimits>());
}

kj::Promise<uint64_t> Scheduler::submitNow(spec::TaskSpec::Reader request, const Identity& owner,
                                           SubmitExtras extras) {
  // Everything about the request itself first: a refusal stages nothing,
  // takes no id and records no event. The limits in force go to the stored
  // task as they are.
  capnp::word scratch[16] = {};  // no allocation: limits are a few words
  capnp::MallocMessageBuilder resolved(scratch);
  auto limits = resolved.initRoot<spec::TaskLimits>();
  auto& queue = resolve(request, limits);
  if (!extras.exempt) {
    KJ_IF_MAYBE (why, aboveQueueMaximum(limits.asReader(), queue.defaults)) {
      refuse(kj::str(*why, ": only root and the admin group may go past it"));
    }
  }
  auto argv = request.getArgv();
  auto priority = request.getPriority();
  kj::StringPtr queueName = queue.name;
  auto retry = request.getRetry();
  int64_t t = now();
  int64_t notBefore = 0;
  bool notBeforeWall = false;
  if (request.getDelayUsec() != 0) {
    if (request.getDelayUsec() > 10 * YEAR_USEC) refuse(kj::str("delay is over ten years"));
    notBefore = t + int64_t(request.getDelayUsec()) * 1000;
  } else if (request.getNotBefore() != 0) {
    notBefore = request.getNotBefore();
    notBeforeWall = true;
    if (notBefore - t > int64_t(10 * YEAR_USEC) * 1000)
      refuse(kj::str("--at is over ten years ahead"));
  }
  validateDependencies(request, owner, extras);

  // An idempotent resend: the first task's id, whatever its state.
  bool hasStaleMapping = false;  // an expired mapping not yet swept: replaced below
  int64_t staleCreatedAt = 0;
  if (request.getRequestId().size() > 0) {
    auto known = keys.known(owner.uid, request.getRequestId(), t);
    KJ_IF_MAYBE (taskId, known.taskId) return *taskId;
    hasStaleMapping = known.stale;
    staleCreatedAt = known.staleCreatedAt;
  }
  if (request.getKey().size() > 0 && request.getOnConflict() == spec::KeyConflict::SKIP) {
    KJ_IF_MAYBE (holder, keys.holder(owner.uid, request.getKey())) return *holder;
  }
  queues.checkFairUse(queue, priority, owner.uid, extras.exempt);
  uint64_t id = store.allocateId();
  uint64_t keyWaitsFor = 0;
  if (request.getKey().size() > 0) {
    if (keys.holders(owner.uid, request.getKey()).size() > 0) {
      switch (request.getOnConflict()) {
        case spec::KeyConflict::SKIP:
          break;  // handled above: nothing held it
        case spec::KeyConflict::REPLACE: {
          auto holders =
              kj::heapArray(keys.holders(owner.uid, request.getKey()));  // cancel() edits it
          for (auto holder : holders) {
            auto* h = find(holder);
            if (h == nullptr) continue;
            h->extra().stopMessage = kj::str("replaced by task ", id);
            KJ_LOG(INFO, "cancel: replaced through its key", holder, id);
            cancel(holder);
          }
          break;
        }
        case spec::KeyConflict::QUEUE:
          break;
      }
      auto holders = keys.holders(owner.uid, request.getKey());
      if (holders.size() > 0) keyWaitsFor = holders.back();
    }
  }

  auto message = kj::heap<capnp::MallocMessageBuilder>(request.totalSize().wordCount + 64);
  auto task = message->initRoot<records::Task>();
  task.setLimits(limits.asReader());
  task.setId(id);
  task.setUid(owner.uid);
  task.setGid(owner.gid);
  auto groups = task.initGroups(owner.groups.size());
  for (auto i : kj::indices(owner.groups)) groups.set(i, owner.groups[i]);
  task.setArgv(argv);
  task.adoptEnv(keptEnvironment(request.getEnv(), capnp::Orphanage::getForMessageContaining(task)));
  task.setCwd(request.getCwd().size() ? request.getCwd() : "/"_kj.asBytes());
  task.setUmask(request.getUmask() & 0777);
  task.setQueue(queueName);
  task.setPriority(priority);
  task.setLabels(request.getLabels());
  task.setCreatedAt(t);
  task.setAfter(request.getAfter());
  task.setNotBefore(notBefore);
  task.setNotBeforeWall(notBeforeWall);
  task.setRetry(retry);
  applyRetryDefault(task.getRetry());
  task.setKey(request.getKey());
  task.setOnConflict(request.getOnConflict());
  task.setKeyWaitsFor(keyWaitsFor);
  task.setRequestId(request.getRequestId());
  task.setHeld(request.getHold());
  task.setRerunOf(extras.rerunOf);
  bool waits =
      notBefore > t || request.getAfter().size() > 0 || keyWaitsFor != 0 || request.getHold();
  task.setState(waits ? TaskState::WAITING : TaskState::QUEUED);
  auto entry = kj::heap<Active>(compactOf(task));
  entry->more().message = kj::mv(message);  // until it is durable: then the store has it
  auto staged = kj::heap<SubmitStaging>(store, events, queues, keys, queue, owner.uid, id);
  auto& staging = *staged;
  staging.joined(task);
  // Starts at once if dispatch would take it at once (startsAtSubmit). The slot
  // is held from now, so the next submit of this turn sees it taken; a refused
  // commit gives it back. The task, its attempt and both events are the
  // submit's own writes: either all of them are stored, or none.
  bool startsNow = !waits && startsAtSubmit(queue);
  if (startsNow) {
    prepareAttempt(*entry);
    staging.started(task, entry->attempt());
    entry->recordedState = TaskState::STARTING;
  }
  staging.stored(task);
  if (request.getRequestId().size() > 0) {
    staging.mapRequest(request.getRequestId(), t, hasStaleMapping, staleCreatedAt);
  }
  if (request.getKey().size() > 0) staging.holdKey(request.getKey());

  // The task joins the scheduler once it is durable, whether or not the
  // caller still listens (a client may hang up mid-submit): the TaskSet
  // holds one branch, the caller (and any resend) another. The staging
  // lives as long as the continuations that read it.
  auto done = commit.durableOrRefused()
                  .then(
                      [this, entry = kj::mv(entry), &staging, startsNow]() mutable {
                        staging.committed();
                        uint64_t id = entry->id();
                        auto& a = active.emplace(id, kj::mv(*entry));
                        if (startsNow) {
                          launch(id, 1);
                        } else {
                          admit(a);
                          // Durable now: a queued task keeps only its summary.
                          KJ_IF_MAYBE (queued, find(id)) dropRecord(*queued);
                        }
                        return id;
                      },
                      [this, &staging](kj::Exception&& e) -> uint64_t {
                        if (staging.refused()) dispatch(staging.queue());  // a slot went back
                        rethrow(kj::mv(e));
                      })
                  .attach(kj::mv(staged))
                  .fork();
  tasks.add(done.addBranch().then([](uint64_t) {}, [](kj::Exception&&) {}));
  if (staging.hasRequestId()) {
    auto answer = done.addBranch();
    keys.addPending(owner.uid, request.getRequestId(), done.addBranch().fork());
    return answer;
  }
  return done.addBranch();
}

void Scheduler::enqueue(Active& a) { queueOf(a).ready.add(a.uid, a.priority, a.id()); }

// ---- Queues at run time (queue-table.h) ----

uint32_t Scheduler::waitingIn(Queue& queue) {
  uint32_t waiting = 0;
  for (auto& [id, a] : active) {
    auto state = a->state;
    if ((state == TaskState::WAITING || state == TaskState::RETRYING) && a->queue == &queue) {
      waiting++;
    }
  }
  return waiting;
}

kj::Vector<Scheduler::QueueInfo> Scheduler::queueList() {
  auto list = queues.queueList([this](Queue& queue) { return waitingIn(queue); });
  for (auto& info : list) info.drained = isDrained;
  return list;
}

kj::Promise<Scheduler::QueueInfo> Scheduler::setConcurrency(kj::StringPtr name,
                                                            kj::Maybe<uint32_t> concurrency,
                                                            uid_t by) {
  return afterSettingsChange(queues.setConcurrency(name, concurrency, by));
}

kj::Promise<Scheduler::QueueInfo> Scheduler::setPaused(kj::StringPtr name, bool paused, uid_t by) {
  return afterSettingsChange(queues.setPaused(name, paused, by));
}

kj::Promise<Scheduler::QueueInfo> Scheduler::afterSettingsChange(Queue& queue) {
  // Dispatch once the change is durable, whether or not the caller still
  // listens; then answer with the queue as it is.
  tasks.add(commit.durable().then([this, name = kj::str(queue.name)]() {
    auto it = queues.find(name);
    if (it != queues.end()) dispatch(it->second);
  }));
  return commit.durable().then([this, name = kj::str(queue.name)]() {
    auto& queue = queues.named(name);
    auto info = queues.infoOf(queue, waitingIn(queue));
    info.drained = isDrained;
    return info;
  });
}

void Scheduler::onTaskFinished(kj::Function<void(uint64_t id, int64_t finishedAt)> fn) {
  finishedHook = kj::mv(fn);
}

}  // namespace taskctl
