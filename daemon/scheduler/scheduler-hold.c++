// The Scheduler's `hold` and `release` (issue 16), and who takes a queue's
// slots (for `why`). A held task is never dispatched: a queued one goes back
// to `waiting`, a waiting one stays there whatever it waited for, and a
// retrying one keeps its backoff and then waits, as Slurm's `scontrol hold`
// does with a pending (also a requeued) job. The flag is in the stored task,
// so a restart keeps it; each change is an event ("held", "released").
#include <kj/debug.h>

#include "common/errors.h"
#include "common/task-words.h"
#include "scheduler/active.h"

namespace taskctl {

using records::TaskState;

kj::Promise<void> Scheduler::hold(kj::ArrayPtr<const uint64_t> ids, bool held) {
  // Every id first, so that a refusal changes nothing. Ids the caller may
  // not see were refused by the RPC; one not active here has ended (its
  // submit is durable: the RPC waited for flushed()).
  for (auto id : ids) {
    auto* a = find(id);
    if (!held) continue;  // releasing what is not held changes nothing
    if (a == nullptr) {
      kj::StringPtr state = "ended";
      KJ_IF_MAYBE (record, store.getTask(id)) state = stateName((*record)->get().getState());
      refuse(kj::str("task ", id, " has ended (", state,
                     "): only a task that has not started can be held"));
    }
    auto state = a->state;
    if (state == TaskState::STARTING || state == TaskState::RUNNING || state == TaskState::PAUSED) {
      refuse(kj::str("task ", id, " is ", stateName(state),
                     ": only a task that has not started can be held (cancel it instead)"));
    }
  }
  for (auto id : ids) {
    auto* found = find(id);
    if (found == nullptr) continue;
    auto& a = *found;
    if (a.held == held) continue;
    a.held = held;
    record(a).setHeld(held);
    if (held) {
      KJ_LOG(INFO, "hold", id);
      if (a.state == TaskState::QUEUED) {
        // Out of its queue's ready list (its id goes stale there, as for a
        // cancel), back to waiting.
        auto& queue = queueOf(a);
        setState(a, TaskState::WAITING);
        leftReady(queue, a.uid);
      }
      persist(a, "held");
    } else {
      KJ_LOG(INFO, "release", id);
      persist(a, "released");
      // Where it would be had it never been held: queued (and maybe
      // started) if nothing else holds it back.
      advance(a);
    }
  }
  return commit.durable();
}

Scheduler::SlotHolders Scheduler::slotHolders(kj::StringPtr name, uint32_t uid) {
  SlotHolders holders;
  auto it = queues.find(name);
  if (it == queues.end()) return holders;
  auto& queue = it->second;
  holders.concurrency = queue.concurrency;
  holders.fairShare = queue.ready.fairShare();
  holders.uidRunning = queue.ready.runningOf(uid);
  // The running tasks of a queue are most often the oldest active ones (ids
  // ascend), so the walk stops early once it has found them all.
  if (queue.running == 0) return holders;
  for (auto& [id, a] : active) {
    auto state = a->state;
    if (a->queue == &queue && (state == TaskState::STARTING || state == TaskState::RUNNING ||
                               state == TaskState::PAUSED)) {
      holders.ids.add(id);
      if (holders.ids.size() >= queue.running) break;
    }
  }
  return holders;
}

}  // namespace taskctl
