// The Scheduler's own view of a task that is not terminal (Scheduler::Active),
// shared by its source files (scheduler.c++, scheduler-attempts.c++,
// scheduler-waits.c++). Nothing outside the Scheduler includes it.
#pragma once

#include <capnp/message.h>
#include <kj/async.h>
#include <kj/debug.h>

#include <memory>

#include "scheduler/scheduler.h"

namespace taskctl {

// A task that is not terminal. Every one keeps what dispatch needs, in 40
// bytes stored inline in `active` (DESIGN 11: a million queued tasks open in
// memory, docs/design-notes.md); the full record only while it has an
// attempt or a write of it is not yet durable, otherwise the store's
// committed record is the whole task and is read when needed
// (Scheduler::record). That record, what only an attempt needs (`live`) and
// what few tasks need (keys, dependencies, timed waits: `extra`) are behind
// one pointer, null for a task that has none of them (a queued one).
struct Scheduler::Active {
  struct Dependency {
    uint64_t id;
    spec::DependencyCondition condition;
  };
  // Only while an attempt exists (starting, running, or just ended).
  struct Live {
    kj::Own<capnp::MallocMessageBuilder> attemptMessage;  // root: records::Attempt
    kj::Maybe<kj::Own<Execution>> execution;
    // Timers owned by the attempt, cancelled with it. Separate, because one
    // firing arms the next (a timeout starts the kill grace).
    kj::Maybe<kj::Promise<void>> timeoutTimer;
    kj::Maybe<kj::Promise<void>> graceTimer;
    kj::Maybe<kj::Promise<void>> heartbeatTimer;
    kj::Maybe<kj::Own<NotifyHandle>> notifySocket;  // the attempt's NOTIFY_SOCKET, while it runs
    int64_t progressStoredAt = 0;                   // coalescing: at most one write a second
    bool progressWritePending = false;
    bool watchdogTriggered = false;        // WATCHDOG=trigger ended it, not silence
    bool malformedProgressLogged = false;  // once per attempt
    kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> attemptWaiters;  // for this attempt's end
  };
  // What few tasks have.
  struct Extra {
    kj::String key;  // unique key (its owner is uid)
    kj::Array<Dependency> after;
    int64_t notBefore = 0;  // realtime ns; 0: none
    bool notBeforeWall = false;
    int64_t nextAttemptAt = 0;  // while retrying
    kj::String stopMessage;     // with a cancel: why, for a person ("replaced by task 9")
    kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiters;  // for the task's end
  };
  struct Rest {
    kj::Own<capnp::MallocMessageBuilder> message;  // root: records::Task, or null
    kj::Own<Live> live;
    kj::Own<Extra> extra;
  };
  // An enum in one byte (capnp's are two): the summary's size is the per-task cost.
  template <typename E>
  struct Byte {
    uint8_t value;
    Byte(E e) : value(static_cast<uint8_t>(e)) {}
    operator E() const { return static_cast<E>(value); }
  };

  uint64_t taskId;
  // std::unique_ptr, not kj::Own: one word, not two (its disposer), per task.
  std::unique_ptr<Rest> rest;
  Queue* queue;  // a node of Scheduler::queues, which are never removed
  uint32_t uid;
  uint32_t attempts;
  // persist() calls: the record stays until the last is durable. Compared for
  // equality only, so wrapping is harmless (65,536 writes of one task are
  // never in flight at once).
  uint16_t writes = 0;
  int16_t priority;  // MIN_PRIORITY..MAX_PRIORITY
  Byte<records::TaskState> state;
  // The state the event log last heard of: persist() records a change.
  Byte<records::TaskState> recordedState;
  // Why the daemon is ending this execution (cancel, timeout, heartbeat);
  // NONE while it runs its course. Decides the end state once it has exited.
  Byte<records::EndReason> stopReason = records::EndReason::NONE;
  bool hasAttempt : 1 = false;
  bool writePending : 1 = false;  // a persist() not yet durable: the store's record is stale
  // An elapsed-time wait (--in, backoff) whose monotonic deadline fired: it
  // is over even if the wall clock was set back meanwhile.
  bool elapsedWaitOver : 1 = false;
  // `hold`: never dispatched (it stays waiting) until `release`.
  bool held : 1 = false;

  Active(uint64_t id, Queue* queue, uint32_t uid, uint32_t attempts, int16_t priority,
         records::TaskState state)
      : taskId(id),
        queue(queue),
        uid(uid),
        attempts(attempts),
        priority(priority),
        state(state),
        recordedState(state) {}

  bool cancelRequested() const { return stopReason == records::EndReason::CANCELLED; }

  Rest& more() {
    if (rest == nullptr) rest = std::make_unique<Rest>();
    return *rest;
  }
  void trim() {
    // Back to the bare summary once nothing is behind the pointer.
    if (rest != nullptr && rest->message.get() == nullptr && rest->live.get() == nullptr &&
        rest->extra.get() == nullptr) {
      rest = nullptr;
    }
  }
  capnp::MallocMessageBuilder* message() const {
    return rest != nullptr ? rest->message.get() : nullptr;
  }
  Live* liveOrNull() const { return rest != nullptr ? rest->live.get() : nullptr; }
  Extra* extraOrNull() const { return rest != nullptr ? rest->extra.get() : nullptr; }
  Live& live() {
    auto& r = more();
    if (r.live.get() == nullptr) r.live = kj::heap<Live>();
    return *r.live;
  }
  Extra& extra() {
    auto& r = more();
    if (r.extra.get() == nullptr) r.extra = kj::heap<Extra>();
    return *r.extra;
  }
  kj::StringPtr key() const { return extraOrNull() ? extraOrNull()->key.asPtr() : ""_kj; }
  kj::ArrayPtr<const Dependency> after() const {
    return extraOrNull() ? extraOrNull()->after.asPtr() : nullptr;
  }
  int64_t notBefore() const { return extraOrNull() ? extraOrNull()->notBefore : 0; }
  bool notBeforeWall() const { return extraOrNull() ? extraOrNull()->notBeforeWall : false; }
  int64_t nextAttemptAt() const { return extraOrNull() ? extraOrNull()->nextAttemptAt : 0; }
  kj::StringPtr stopMessage() const {
    return extraOrNull() ? extraOrNull()->stopMessage.asPtr() : ""_kj;
  }

  records::Attempt::Builder attempt() {
    bool has = hasAttempt;  // a bit-field: KJ_ASSERT would take a reference
    KJ_ASSERT(has);
    return rest->live->attemptMessage->getRoot<records::Attempt>();
  }
  uint64_t id() const { return taskId; }
};

}  // namespace taskctl
