// Group commit: every change staged in the Store during one loop turn reaches
// the disk in one write transaction, run at the end of the turn
// (kj::evalLast), and whatever waits for durability continues after it.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>

#include "store/store.h"

namespace taskctl {

class GroupCommit final : private kj::TaskSet::ErrorHandler {
 public:
  // `store` and `timer` outlive this object.
  GroupCommit(Store& store, kj::Timer& timer);
  KJ_DISALLOW_COPY(GroupCommit);

  kj::Promise<void> durable();
  // Resolves after the commit that holds everything staged so far. Changes of
  // daemon state ("write the record, then act") wait here; if a commit fails
  // they stay staged and the commit is retried (every RETRY_INTERVAL) until
  // it works.

  kj::Promise<void> durableOrRefused();
  // For a request that may still be refused (a submit, staged `droppable`):
  // resolves after the commit, or rejects with the commit's error, in which
  // case its staged writes have been dropped. While the store is failing()
  // it rejects at once (OVERLOADED, "store full ..."), without a write.

  kj::Promise<void> flushed();
  // For reads: resolves once nothing staged is waiting (at once if nothing
  // is), or once the commit under way has been tried, whether or not it
  // worked, and at once while the store is failing(). A read that follows
  // sees every change made before the call that could be made durable, and
  // otherwise what is durable: a failing store never blocks a read.

  kj::Maybe<const kj::Exception&> failing() const;
  // Why the last commit failed, while changes that must be written wait for
  // a retry (a full disk or map); null otherwise.

  uint64_t commits() const { return committed; }
  // Write transactions that reached the disk (each one fdatasync on the loop).

  static constexpr kj::Duration RETRY_INTERVAL = 250 * kj::MILLISECONDS;
  // While failing: how often the staged changes are tried again. A failed
  // commit that held only refusable writes leaves no failure behind: the
  // next submit's own write tests the store again (a smaller one may fit).

 private:
  enum class Kind {
    DURABLE,    // durable(): waits until its writes are on disk
    REFUSABLE,  // durableOrRefused(): rejected if the commit fails
    FLUSH,      // flushed(): a read, satisfied by the attempt either way
  };
  struct Waiter {
    kj::Own<kj::PromiseFulfiller<void>> fulfiller;
    Kind kind;
  };

  Store& store;
  kj::Timer& timer;
  kj::Vector<Waiter> waiters;
  bool scheduled = false;
  uint64_t committed = 0;
  kj::Maybe<kj::Exception> failure;
  kj::TaskSet tasks;  // the evalLast or retry that will commit

  kj::Promise<void> wait(Kind kind);
  void schedule();
  void run();
  void retry();
  void taskFailed(kj::Exception&& exception) override;
};

}  // namespace taskctl
