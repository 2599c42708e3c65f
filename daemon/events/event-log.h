// The event log (DESIGN 6, "Events"): every state change of every task gets
// the next sequence number and is stored in the same transaction as the
// change (the scheduler records it while staging the change). Once that
// transaction is durable the event is published, in seq order, to every
// listener: the D-Bus object (signals) and the RPC watchers. A watcher that
// reconnects replays the stored log from a seq, then follows live events,
// with no gap and no duplicate.
//
// Progress is not a state change: it goes to listeners live, coalesced by
// them, and is never stored or replayed.
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <records.capnp.h>

#include <deque>

#include "store/group-commit.h"
#include "store/store.h"

namespace taskctl {

class EventListener {
 public:
  virtual ~EventListener() noexcept(false) = default;
  virtual void onEvent(records::Event::Reader event) = 0;
  // A durable state change, in seq order, exactly once per listener.
  virtual void onProgress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction) = 0;
  // A live progress report (0..1); may come often: coalesce.
};

class EventLog final : private kj::TaskSet::ErrorHandler {
 public:
  // `store` and `commit` outlive the log. At most `maxEvents` stay stored
  // (the oldest are pruned in bounded batches).
  EventLog(Store& store, GroupCommit& commit, const kj::Clock& clock, uint64_t maxEvents);
  ~EventLog() noexcept(false);
  KJ_DISALLOW_COPY(EventLog);

  uint64_t record(records::Task::Reader task, kj::Maybe<records::TaskState> from, uint32_t attempt,
                  bool droppable = false, kj::StringPtr action = nullptr);
  // Stages the change of `task` (already in its new state) from `from` (null:
  // just submitted) with the next seq, and returns it. `droppable`: part of a
  // submit that may still be refused (then the seq is never used: a gap only
  // a refused submit can leave). `action`: what a user did ("held",
  // "released"), recorded also when the state stays the same; "" for a
  // plain state change.

  uint64_t recordDaemon(kj::StringPtr action, uint32_t uid);
  // Stages a change of the daemon itself, not of a task (`drain`: "drained",
  // "undrained", by `uid`): task id 0, no queue, `created` false and `from`
  // equal to `to` (no state changed; the RPC shows both as "").

  void forget(uint64_t seq);
  // The droppable event `seq` was dropped with its refused submit: it is
  // never published.

  void progress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction);

  uint64_t lastPublished() const { return published; }
  // The highest seq every listener has been given: a reader that reads state
  // now and then watches from lastPublished() + 1 misses nothing.

  uint64_t firstStored();  // the oldest seq still in the store (0: none)

  void forEachStored(uint64_t seq, kj::FunctionParam<bool(records::Event::Reader)> fn);
  // The stored events ascending from `seq` (committed ones only); return
  // false to stop. A watcher's replay reads here, not from the store.

  class Subscription {
   public:
    virtual ~Subscription() noexcept(false) = default;
  };
  kj::Own<Subscription> subscribe(EventListener& listener);
  // Until the subscription is dropped. A listener may drop its own
  // subscription from within onEvent.

  void setMaxEvents(uint64_t maxEvents);

  struct Stats {
    uint64_t recorded = 0, published = 0, pruned = 0;
  };
  Stats stats() const { return counts; }

 private:
  class SubscriptionImpl;
  struct Pending {
    uint64_t seq;
    kj::Own<capnp::MallocMessageBuilder> message;  // root: records::Event
  };

  Store& store;
  GroupCommit& commit;
  const kj::Clock& clock;
  uint64_t maxEvents;
  uint64_t nextSeq;                         // the next to hand out
  uint64_t published = 0;                   // every seq up to here has gone to listeners
  uint64_t oldest;                          // the oldest seq stored (or staged to stay)
  std::deque<Pending> pending;              // recorded, not yet durable, in seq order
  kj::Vector<SubscriptionImpl*> listeners;  // null: unsubscribed while publishing
  bool publishing = false;
  bool pruning = false;
  Stats counts;
  kj::TaskSet tasks;

  void taskFailed(kj::Exception&& exception) override;
  void publishUpTo(uint64_t seq);
  void prune();
  void compact();
};

}  // namespace taskctl
