// The Scheduler's `edit` (issue 16): a task that has not started is changed
// in place, checked as a submit of the new spec would be, all or nothing.
// Only a task no attempt of which ran: a retrying one has run its command
// (its attempts, their logs and a limit a retry grew belong to the spec they
// ran), so it is refused and `cancel` + `rerun` is the way. The change is
// one write of the task with an "edited" event; then the task moves on from
// `waiting` as a just-submitted one does (admit), so its queue, its place in
// the dispatch order, its dependency waits, its timed wait and its key are
// registered afresh rather than patched.
#include <kj/debug.h>

#include "common/errors.h"
#include "common/task-words.h"
#include "scheduler/active.h"
#include "scheduler/task-spec-check.h"

namespace taskctl {

using records::EndReason;
using records::TaskState;

namespace {

constexpr uint64_t TEN_YEARS_USEC = 10 * 366ull * 86400 * 1000000;

}  // namespace

void Scheduler::requireEditable(uint64_t id) {
  auto* found = find(id);
  if (found == nullptr) {
    kj::StringPtr state = "ended";
    KJ_IF_MAYBE (record, store.getTask(id)) state = stateName((*record)->get().getState());
    refuse(kj::str("task ", id, " has ended (", state,
                   "): edit changes only a task that has not started (taskctl rerun ", id,
                   " [OPTIONS] makes a new one from it)"));
  }
  auto& a = *found;
  auto state = a.state;
  if (state == TaskState::STARTING || state == TaskState::RUNNING) {
    refuse(kj::str("task ", id, " is ", stateName(state),
                   ": edit changes only a task that has not started (cancel it, then taskctl "
                   "rerun ",
                   id, " [OPTIONS])"));
  }
  // An attempt that ran the command (not one the daemon stopped before its
  // command was told to go) makes the task started for good.
  bool ran = state == TaskState::RETRYING;
  for (uint32_t n = 1; !ran && n <= a.attempts; n++) {
    KJ_IF_MAYBE (attempt, store.getAttempt(id, n)) {
      ran = (*attempt)->get().getReason() != EndReason::NOT_STARTED;
    }
  }
  if (ran) {
    refuse(kj::str("task ", id, " has started (attempt ", a.attempts,
                   " ran): edit changes only a task that has not started (cancel it, then "
                   "taskctl rerun ",
                   id, " [OPTIONS])"));
  }
}

kj::Promise<void> Scheduler::edit(uint64_t id, spec::TaskSpec::Reader request, EditExtras extras) {
  // ---- Every check first: a refusal changes nothing ----
  requireEditable(id);
  auto& a = *find(id);
  uint32_t uid = a.uid;
  capnp::word scratch[16] = {};  // no allocation: limits are a few words
  capnp::MallocMessageBuilder resolved(scratch);
  auto limits = resolved.initRoot<spec::TaskLimits>();
  auto& queue = resolve(request, limits);
  int64_t t = now();
  int64_t notBefore = 0;
  bool notBeforeWall = false;
  if (extras.startGiven) {
    if (request.getDelayUsec() != 0) {
      if (request.getDelayUsec() > TEN_YEARS_USEC) refuse(kj::str("delay is over ten years"));
      notBefore = t + int64_t(request.getDelayUsec()) * 1000;
    } else if (request.getNotBefore() != 0) {
      notBefore = request.getNotBefore();
      notBeforeWall = true;
      if (notBefore - t > int64_t(TEN_YEARS_USEC) * 1000) {
        refuse(kj::str("--at is over ten years ahead"));
      }
    }
  } else {
    notBefore = a.notBefore();
    notBeforeWall = a.notBeforeWall();
  }
  Identity owner{uid, 0, nullptr};
  SubmitExtras asSubmit;
  asSubmit.seesAll = extras.seesAll;
  validateDependencies(request, owner, asSubmit);
  for (auto dependency : request.getAfter()) {
    // Ids only point backwards, so no chain of dependencies is a cycle: an
    // edit keeps it so.
    if (dependency.getId() >= id) {
      refuse(kj::str("task ", id, " cannot wait for task ", dependency.getId(),
                     " (in --after): a task waits only for older ones (lower ids), so that no "
                     "two wait for each other"));
    }
  }
  // A priority root gave the task binds its owner only if changed.
  bool sameSlot = request.getPriority() == a.priority && &queue == a.queue;
  queues.checkFairUse(queue, request.getPriority(), uid, extras.exempt || sameSlot, *a.queue);
  kj::StringPtr newKey = request.getKey();
  bool keyChanged = newKey != a.key();
  kj::Vector<uint64_t> replaced;
  if (keyChanged && newKey.size() > 0) {
    for (auto holder : keys.holders(a.uid, newKey)) {
      if (request.getOnConflict() == spec::KeyConflict::SKIP) {
        refuse(kj::str("key \"", newKey, "\" is held by task ", holder,
                       " and --on-conflict is skip: task ", id, " was not changed"));
      }
      if (request.getOnConflict() == spec::KeyConflict::REPLACE) replaced.add(holder);
    }
  }

  // ---- The change ----
  // Out of where it was: its queue's ready list (its id made stale there and
  // dropped at once, since the task may be ready there again with another
  // priority), its timed wait, its dependency waits, its key.
  auto& from = *a.queue;
  auto before = a.state;
  auto task = record(a);
  if (before == TaskState::QUEUED) {
    a.state = TaskState::WAITING;  // not ready: compact() drops its id
    from.ready.cancelled(a.uid);
    from.ready.compact([&](uint64_t other) { return readyIsLive(from, other); });
    a.state = TaskState::QUEUED;
  }
  clearDeadline(a);
  for (auto it = dependents.begin(); it != dependents.end();) {
    it = it->second == id ? dependents.erase(it) : std::next(it);
  }
  kj::String oldKey = kj::str(a.key());
  if (keyChanged) releaseKey(a);
  if (&from != &queue) {
    queues.countOut(from, a.uid);
    queues.countIn(queue, a.uid);
    a.queue = &queue;
  }
  a.priority = static_cast<int16_t>(request.getPriority());

  task.setArgv(request.getArgv());
  task.adoptEnv(keptEnvironment(request.getEnv(), capnp::Orphanage::getForMessageContaining(task)));
  task.setCwd(request.getCwd().size() ? request.getCwd() : "/"_kj.asBytes());
  task.setUmask(request.getUmask() & 0777);
  task.setQueue(queue.name);
  task.setPriority(request.getPriority());
  task.setLabels(request.getLabels());
  task.setLimits(limits.asReader());
  task.setAfter(request.getAfter());
  task.setNotBefore(notBefore);
  task.setNotBeforeWall(notBeforeWall);
  task.setRetry(request.getRetry());
  applyRetryDefault(task.getRetry());
  task.setKey(newKey);
  task.setOnConflict(request.getOnConflict());
  task.setEditedAt(t);
  if (keyChanged) {
    uint64_t waitsFor = 0;
    if (newKey.size() > 0) {
      auto holders = keys.holders(a.uid, newKey);
      if (holders.size() > 0) waitsFor = holders.back();
      keys.add(a.uid, newKey, id);  // behind the others, as a new submit
    }
    task.setKeyWaitsFor(waitsFor);
  }
  // The summary the dispatch reads (compactOf's fields).
  if (newKey.size() > 0 || request.getAfter().size() > 0 || notBefore != 0 ||
      a.extraOrNull() != nullptr) {
    auto& extra = a.extra();
    extra.key = kj::str(newKey);
    extra.after = KJ_MAP(d, request.getAfter()) {
      return Active::Dependency{d.getId(), d.getCondition()};
    };
    extra.notBefore = notBefore;
    extra.notBeforeWall = notBeforeWall;
  }
  if (extras.startGiven) a.elapsedWaitOver = false;
  KJ_LOG(INFO, "edit", id);
  persist(a, "edited");  // from and to: the state it had

  // Then on as a submit of it: it waits, or is queued (and may start), or
  // ends for a dependency that ended the wrong way. A key given up lets its
  // next waiter go; a key with `replace` cancels its holders.
  for (auto holder : replaced) {
    KJ_IF_MAYBE (h, find(holder)) {
      h->extra().stopMessage = kj::str("replaced by task ", id, " (edited)");
      KJ_LOG(INFO, "cancel: replaced through its key", holder, id);
      cancel(holder);
    }
  }
  setState(a, TaskState::WAITING);
  admit(a);
  KJ_IF_MAYBE (still, find(id)) {
    // Still waiting where it was queued: that move is an event of its own.
    if (still->state != still->recordedState) persist(*still);
  }
  deadlines.arm();  // its old deadline may have been the earliest
  if (keyChanged && oldKey.size() > 0) keyReleased(uid, oldKey);
  return commit.durable();
}

}  // namespace taskctl
