// The Scheduler's `drain` and `undrain` (issue 16): for maintenance, no queue
// starts anything new while running work finishes. dispatch() and
// startsAtSubmit() read `isDrained`, so whatever would start waits where it
// is: queued tasks stay queued, a retry whose backoff ends is queued and
// waits, a timer's submit is stored and waits. `queue pause` is the
// per-queue form and stays independent (undrain does not resume a paused
// queue). The state is in the meta record (Store::drainState), committed
// with its event (task id 0, action "drained"/"undrained").
#include <kj/debug.h>

#include "common/errors.h"
#include "scheduler/active.h"

namespace taskctl {

kj::Promise<uint32_t> Scheduler::drain(bool drained, bool wait, uid_t by) {
  KJ_REQUIRE(drained || !wait, "undrain does not wait");
  if (drained != isDrained) {
    isDrained = drained;
    DrainState state;
    if (drained) state = DrainState{true, by, now()};
    store.setDrainState(state);
    events.recordDaemon(drained ? "drained"_kj : "undrained"_kj, by);
    KJ_LOG(INFO, drained ? "drained" : "undrained", by);
    if (!drained) {
      // A `drain --wait` still waiting has lost what it waited for.
      for (auto& waiter : drainWaiters) {
        waiter->reject(KJ_EXCEPTION(FAILED, "undrained while waiting for the running work to end"));
      }
      drainWaiters.clear();
      // Every queue that is not paused starts what it can, once this is
      // durable (a restart in between would find it drained: nothing ran).
      tasks.add(commit.durable().then([this]() {
        if (isDrained) return;
        for (auto& [name, queue] : queues) dispatch(queue);
      }));
    }
  }
  return commit.durable().then([this, wait]() -> kj::Promise<uint32_t> {
    uint32_t running = queues.runningEverywhere();
    if (!wait || running == 0) return running;
    if (!isDrained) {
      return KJ_EXCEPTION(FAILED, "undrained while waiting for the running work to end");
    }
    // Answered by drainIdle() when the last execution's end is durable.
    auto paf = kj::newPromiseAndFulfiller<uint32_t>();
    drainWaiters.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  });
}

void Scheduler::drainIdle() {
  if (drainWaiters.empty()) return;
  // The attempt's end is staged in this turn: answer once it is on disk.
  tasks.add(commit.durable().then([this]() {
    if (!isDrained || queues.runningEverywhere() != 0) return;
    for (auto& waiter : drainWaiters) waiter->fulfill(0);
    drainWaiters.clear();
  }));
}

}  // namespace taskctl
