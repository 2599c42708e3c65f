// The Scheduler's `pause` and `resume` (issue 16): a running execution is
// frozen (runner.h, Execution::pause) and its task is `paused` until
// `resume`. Its timeout and heartbeat clocks stop meanwhile: the attempt
// keeps the paused time (records.Attempt.pausedAt, pausedUsec), so the
// timeout counts only running time, also after a daemon restart, which
// keeps a paused task paused (reconcile() freezes it again, never thaws).
// Each change is a state change with an action, "paused" or "resumed".
#include <kj/debug.h>

#include "common/errors.h"
#include "common/task-words.h"
#include "scheduler/active.h"

namespace taskctl {

using records::EndReason;
using records::TaskState;

int64_t Scheduler::runningUsec(Active& a) {
  auto attempt = a.attempt();
  int64_t t = now();
  int64_t paused = int64_t(attempt.getPausedUsec());
  if (attempt.getPausedAt() != 0) paused += kj::max(t - attempt.getPausedAt(), int64_t(0)) / 1000;
  return kj::max((t - attempt.getStartedAt()) / 1000 - paused, int64_t(0));
}

void Scheduler::endPause(Active& a) {
  // The pause's time joins the attempt's paused time; the clocks run again.
  auto attempt = a.attempt();
  if (attempt.getPausedAt() != 0) {
    int64_t span = kj::max(now() - attempt.getPausedAt(), int64_t(0)) / 1000;
    attempt.setPausedUsec(attempt.getPausedUsec() + uint64_t(span));
    attempt.setPausedAt(0);
  }
}

void Scheduler::markPaused(Active& a) {
  auto attempt = a.attempt();
  attempt.setPausedAt(now());
  attempt.setState(TaskState::PAUSED);
  setState(a, TaskState::PAUSED);
  a.live().timeoutTimer = nullptr;    // the clocks stop
  a.live().heartbeatTimer = nullptr;  // (runningUsec() leaves the pause out)
}

kj::Promise<void> Scheduler::thaw(Active& a) {
  // Back to `running` (the caller persists), then the execution thaws.
  endPause(a);
  a.attempt().setState(TaskState::RUNNING);
  setState(a, TaskState::RUNNING);
  KJ_IF_MAYBE (execution, a.live().execution) {
    return (*execution)->pause(false);
  }
  return kj::READY_NOW;
}

kj::Promise<void> Scheduler::pause(kj::ArrayPtr<const uint64_t> ids, bool paused) {
  // Every id first, so that a refusal changes nothing. Ids the caller may
  // not see were refused by the RPC.
  for (auto id : ids) {
    auto* a = find(id);
    kj::StringPtr verb = paused ? "paused" : "resumed";
    if (a == nullptr) {
      kj::StringPtr state = "ended";
      KJ_IF_MAYBE (record, store.getTask(id)) state = stateName((*record)->get().getState());
      refuse(kj::str("task ", id, " has ended (", state, "): only a running task can be ", verb));
    }
    auto state = a->state;
    if (state != TaskState::RUNNING && state != TaskState::PAUSED) {
      refuse(kj::str("task ", id, " is ", stateName(state), ": only a running task can be ", verb));
    }
    if (paused && state == TaskState::RUNNING && a->stopReason != EndReason::NONE) {
      refuse(kj::str("task ", id, " is being stopped (", reasonName(a->stopReason),
                     "): it cannot be paused"));
    }
    if (a->liveOrNull() == nullptr || a->liveOrNull()->execution == nullptr) {
      refuse(kj::str("task ", id, " has no execution to ", paused ? "pause" : "resume"));
    }
  }
  kj::Vector<kj::Promise<void>> changes;
  for (auto id : ids) {
    auto& a = *find(id);
    if ((a.state == TaskState::PAUSED) == paused) continue;  // already so: nothing changes
    uint32_t number = a.attempt().getNumber();
    if (paused) {
      KJ_LOG(INFO, "pause", id, number);
      // Durable first, then frozen: a daemon that dies between the two
      // finds it `paused` and freezes it then (reconcile()).
      markPaused(a);
      persist(a, "paused");
      auto& execution = KJ_ASSERT_NONNULL(a.live().execution);
      changes.add(execution->pause(true).catch_([this, id, number](kj::Exception&& e) {
        // Not frozen: it runs on, so it is not paused either.
        KJ_LOG(WARNING, "pause failed", id, number, e.getDescription());
        KJ_IF_MAYBE (a, findAttempt(id, number)) {
          if (a->state == TaskState::PAUSED) {
            tasks.add(thaw(*a));
            persist(*a, "resumed");
            armTimeout(*a);
            armHeartbeat(*a);
          }
        }
        refuse(kj::str("task ", id, " could not be paused: ", e.getDescription()));
      }));
    } else {
      KJ_LOG(INFO, "resume", id, number);
      changes.add(thaw(a).catch_([this, id, number](kj::Exception&& e) {
        // Not thawed: it is still frozen, so it is paused again (from now:
        // how long the failed resume took is counted as running time).
        KJ_LOG(WARNING, "resume failed", id, number, e.getDescription());
        KJ_IF_MAYBE (a, findAttempt(id, number)) {
          if (a->state == TaskState::RUNNING && a->stopReason == EndReason::NONE) {
            markPaused(*a);
            persist(*a, "paused");
          }
        }
        refuse(kj::str("task ", id, " could not be resumed: ", e.getDescription()));
      }));
      persist(a, "resumed");
      armTimeout(a);
      armHeartbeat(a);  // a fresh heartbeat period: it could send none while paused
    }
  }
  return kj::joinPromises(changes.releaseAsArray()).then([this]() { return commit.durable(); });
}

}  // namespace taskctl
