// Group commit: every change staged in the Store during one loop turn reaches
// the disk in one write transaction, run at the end of the turn
// (kj::evalLast), and whatever waits for durability continues after it.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>

#include "store/store.h"

namespace taskctl {

class GroupCommit final: private kj::TaskSet::ErrorHandler {
 public:
  // `store` and `timer` outlive this object.
  GroupCommit(Store& store, kj::Timer& timer);
  KJ_DISALLOW_COPY(GroupCommit);

  kj::Promise<void> durable();
  // Resolves after the commit that holds everything staged so far. Changes of
  // daemon state ("write the record, then act") wait here; if a commit fails
  // they stay staged and the commit is retried (every second) until it works.

  kj::Promise<void> durableOrRefused();
  // For a request that may still be refused (a submit, staged `droppable`):
  // resolves after the commit, or rejects with the commit's error, in which
  // case its staged writes have been dropped.

  kj::Promise<void> flushed();
  // Resolves when nothing staged is waiting (at once if nothing is): reads
  // that follow then see every change made before the call.

  uint64_t commits() const { return committed; }
  // Write transactions that reached the disk (each one fdatasync on the loop).


 private:
  struct Waiter {
    kj::Own<kj::PromiseFulfiller<void>> fulfiller;
    bool refusable;
  };

  Store& store;
  kj::Timer& timer;
  kj::Vector<Waiter> waiters;
  bool scheduled = false;
  uint64_t committed = 0;
  kj::TaskSet tasks;  // the evalLast or retry that will commit

  kj::Promise<void> wait(bool refusable);
  void schedule();
  void run();
  void taskFailed(kj::Exception&& exception) override;
};

}  // namespace taskctl
