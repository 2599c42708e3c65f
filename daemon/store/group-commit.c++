#include "group-commit.h"

#include <kj/debug.h>

namespace taskctl {

GroupCommit::GroupCommit(Store& store, kj::Timer& timer)
    : store(store), timer(timer), tasks(*this) {}

void GroupCommit::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "group commit", exception);
}

kj::Promise<void> GroupCommit::durable() { return wait(false); }
kj::Promise<void> GroupCommit::durableOrRefused() { return wait(true); }

kj::Promise<void> GroupCommit::flushed() {
  if (store.stagedCount() == 0 && waiters.empty()) return kj::READY_NOW;
  return wait(false);
}

kj::Promise<void> GroupCommit::wait(bool refusable) {
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiters.add(Waiter{kj::mv(paf.fulfiller), refusable});
  schedule();
  return kj::mv(paf.promise);
}

void GroupCommit::schedule() {
  if (scheduled) return;
  scheduled = true;
  // evalLast: after every event already queued, so every message that arrived
  // in this turn is staged before we commit.
  tasks.add(kj::evalLast([this]() { run(); }));
}

void GroupCommit::run() {
  scheduled = false;
  auto batch = kj::mv(waiters);
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { store.commit(); })) {
    KJ_LOG(ERROR, "commit failed; refusing new work and retrying", e->getDescription());
    store.dropDroppable();
    for (auto& w : batch) {
      if (w.refusable) {
        w.fulfiller->reject(kj::cp(*e));
      } else {
        waiters.add(kj::mv(w));
      }
    }
    if (store.stagedCount() == 0) {
      // Only refused writes were staged: whoever else waited has nothing
      // pending (its earlier writes are on disk). No retry, no second of delay
      // for the next submit.
      for (auto& w : waiters) w.fulfiller->fulfill();
      waiters.clear();
      return;
    }
    // Only while the store refuses writes: not a poll of anything healthy.
    scheduled = true;
    tasks.add(timer.afterDelay(1 * kj::SECONDS).then([this]() { run(); }));
    return;
  }
  committed++;
  for (auto& w : batch) w.fulfiller->fulfill();
}

}  // namespace taskctl
