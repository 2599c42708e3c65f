// One submit's staged writes, and their undo if its commit is refused.
//
// A submit is answered only once its task is durable, and its commit may
// be refused (a full store). Everything the submit staged must then be as
// if it never happened: the store's `droppable` writes (GroupCommit drops
// those), its events (not yet published), the counts it added to its
// owner's quotas and fair share, the slot a start-at-submit took, its key
// in the registry, and its request id's pending answer. The Scheduler makes
// one per submit, tells it what it stages, and calls committed() or
// refused() once the commit is decided; it calls no one back.
#pragma once

#include <kj/string.h>

#include "events/event-log.h"
#include "scheduler/key-registry.h"
#include "scheduler/queue-table.h"
#include "store/store.h"

namespace taskctl {

class SubmitStaging {
 public:
  // Every reference outlives this object; `queue` is the task's (queues are
  // never removed).
  SubmitStaging(Store& store, EventLog& events, QueueTable& queues, KeyRegistry& keys,
                QueueTable::Queue& queue, uint32_t uid, uint64_t taskId);
  KJ_DISALLOW_COPY(SubmitStaging);

  void joined(records::Task::Reader task);
  // The task counts for its owner from now (a flood of submits counts before
  // it is durable) and its submit event is staged.
  void started(records::Task::Reader task, records::Attempt::Reader attempt);
  // It starts at submit: the slot is held from now (the next submit of this
  // turn sees it taken), its first attempt and `starting` event are staged.
  void stored(records::Task::Reader task);  // the task's record
  void mapRequest(kj::StringPtr requestId, int64_t createdAt, bool replacesStale,
                  int64_t staleCreatedAt);
  // Its request id, replacing an expired mapping not yet swept.
  void holdKey(kj::StringPtr key);  // holds its unique key, or waits behind it

  bool hasRequestId() const { return requestId.size() > 0; }
  QueueTable::Queue& queue() { return taskQueue; }

  void committed();
  // The task is durable: only the request id's pending answer goes (the
  // store answers a resend now).
  bool refused();
  // The commit was refused: undoes the rest (the store's droppable writes
  // are GroupCommit's). True when a slot went back: the queue may start
  // another task.

 private:
  Store& store;
  EventLog& events;
  QueueTable& queues;
  KeyRegistry& keys;
  QueueTable::Queue& taskQueue;
  uint32_t uid;
  uint64_t taskId;
  uint64_t seq = 0;       // its submit event; seqs start at 1
  uint64_t startSeq = 0;  // its `starting` event, when it starts at submit
  bool counted = false;
  kj::String key;
  kj::String requestId;
};

}  // namespace taskctl
