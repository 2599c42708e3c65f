#include "group-commit.h"

#include <kj/debug.h>

namespace taskctl {

GroupCommit::GroupCommit(Store& store, kj::Timer& timer)
    : store(store), timer(timer), tasks(*this) {}

void GroupCommit::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "group commit", exception);
}

kj::Promise<void> GroupCommit::durable() { return wait(Kind::DURABLE); }

kj::Promise<void> GroupCommit::durableOrRefused() {
  KJ_IF_MAYBE (e, failure) {
    // Refused at once: a submit must not wait for the next retry to learn
    // that the store is full. Its own writes go; nothing else is droppable
    // now, since every submit staged while failing is refused here.
    store.dropDroppable();
    return kj::cp(*e);
  }
  return wait(Kind::REFUSABLE);
}

kj::Promise<void> GroupCommit::flushed() {
  if (store.stagedCount() == 0 && waiters.empty()) return kj::READY_NOW;
  // While failing, what is staged may never reach the disk: read what did.
  if (failure != nullptr) return kj::READY_NOW;
  return wait(Kind::FLUSH);
}

kj::Maybe<const kj::Exception&> GroupCommit::failing() const {
  KJ_IF_MAYBE (e, failure) {
    return *e;
  }
  return nullptr;
}

kj::Promise<void> GroupCommit::wait(Kind kind) {
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiters.add(Waiter{kj::mv(paf.fulfiller), kind});
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
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { store.commit(); })) {
    store.dropDroppable();
    for (auto& w : batch) {
      switch (w.kind) {
        case Kind::REFUSABLE:
          w.fulfiller->reject(kj::cp(*e));
          break;
        case Kind::FLUSH:
          w.fulfiller->fulfill();
          break;  // the read goes on with what is durable
        case Kind::DURABLE:
          waiters.add(kj::mv(w));
          break;
      }
    }
    if (store.stagedCount() == 0) {
      // Only refused writes were staged: whoever else waited has nothing
      // pending (its earlier writes are on disk). No retry, and the next
      // submit tries at once (a smaller one may fit).
      for (auto& w : waiters) w.fulfiller->fulfill();
      waiters.clear();
      KJ_LOG(WARNING, "commit failed; its submits were refused", e->getDescription());
      return;
    }
    if (failure == nullptr) {
      KJ_LOG(ERROR, "commit failed; refusing new work and retrying", e->getDescription());
    }
    failure = kj::cp(*e);
    // Only while the store refuses writes: not a poll of anything healthy.
    scheduled = true;
    tasks.add(timer.afterDelay(RETRY_INTERVAL).then([this]() { retry(); }));
    return;
  }
  if (failure != nullptr) {
    KJ_LOG(INFO, "commits work again");
    failure = nullptr;
  }
  committed++;
  for (auto& w : batch) w.fulfiller->fulfill();
}

void GroupCommit::retry() {
  if (store.stagedCount() > 0) {
    run();
    return;
  }
  // Nothing left to write (what was staged is gone): nothing to wait for.
  scheduled = false;
  failure = nullptr;
  for (auto& w : waiters) w.fulfiller->fulfill();
  waiters.clear();
}

}  // namespace taskctl
