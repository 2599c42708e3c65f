#include "events/event-log.h"

#include <kj/debug.h>

namespace taskctl {

namespace {
// Pruning: past maxEvents, delete in batches of this many per commit, so a
// large backlog never makes one huge transaction.
constexpr size_t PRUNE_BATCH = 1024;
}  // namespace

class EventLog::SubscriptionImpl final : public Subscription {
 public:
  SubscriptionImpl(EventLog& log, EventListener& listener) : log(log), listener(listener) {
    log.listeners.add(this);
  }
  ~SubscriptionImpl() noexcept(false) {
    for (auto& entry : log.listeners) {
      if (entry == this) entry = nullptr;  // compacted once no publish runs
    }
    if (!log.publishing) log.compact();
  }

  EventLog& log;
  EventListener& listener;
};

EventLog::EventLog(Store& store, GroupCommit& commit, const kj::Clock& clock, uint64_t maxEvents)
    : store(store), commit(commit), clock(clock), maxEvents(maxEvents), tasks(*this) {
  // Seqs continue across restarts from the highest stored one; everything
  // stored was published before (or is history to replay).
  published = store.lastEventSeq();
  nextSeq = published + 1;
  uint64_t first = store.firstEventSeq();
  oldest = first == 0 ? nextSeq : first;
}

EventLog::~EventLog() noexcept(false) {}

void EventLog::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "event log background work failed", exception);
}

uint64_t EventLog::record(records::Task::Reader task, kj::Maybe<records::TaskState> from,
                          uint32_t attempt, bool droppable, kj::StringPtr action) {
  uint64_t seq = nextSeq++;
  auto message = kj::heap<capnp::MallocMessageBuilder>(34 + task.getQueue().size() / 8);
  auto event = message->initRoot<records::Event>();
  event.setSeq(seq);
  event.setTaskId(task.getId());
  event.setUid(task.getUid());
  event.setQueue(task.getQueue());
  KJ_IF_MAYBE (f, from) {
    event.setFrom(*f);
  } else {
    event.setCreated(true);
  }
  event.setTo(task.getState());
  event.setAttempt(attempt);
  auto state = task.getState();
  if (isTerminal(state) || state == records::TaskState::RETRYING) event.setReason(task.getReason());
  event.setAt((clock.now() - kj::UNIX_EPOCH) / kj::NANOSECONDS);
  if (action.size() > 0) event.setAction(action);
  store.appendEvent(event, droppable);
  pending.push_back(Pending{seq, kj::mv(message)});
  counts.recorded++;
  tasks.add(commit.durable().then([this, seq]() { publishUpTo(seq); }));
  if (nextSeq - oldest > maxEvents + PRUNE_BATCH && !pruning) prune();
  return seq;
}

uint64_t EventLog::recordDaemon(kj::StringPtr action, uint32_t uid) {
  capnp::MallocMessageBuilder task(16);
  auto root = task.initRoot<records::Task>();
  root.setUid(uid);  // id 0: no task has it (ids start at 1)
  return record(root, records::TaskState::WAITING, 0, false, action);
}

void EventLog::forget(uint64_t seq) {
  for (auto it = pending.begin(); it != pending.end(); ++it) {
    if (it->seq == seq) {
      pending.erase(it);
      return;
    }
  }
}

void EventLog::publishUpTo(uint64_t seq) {
  // Durability is in order (each commit holds everything staged before it),
  // so everything up to `seq` is on disk now.
  publishing = true;
  KJ_DEFER({
    publishing = false;
    compact();
  });
  while (!pending.empty() && pending.front().seq <= seq) {
    auto entry = kj::mv(pending.front());
    pending.pop_front();
    auto event = entry.message->getRoot<records::Event>().asReader();
    // By index: a listener may subscribe or unsubscribe while we call it.
    for (size_t i = 0; i < listeners.size(); i++) {
      if (listeners[i] != nullptr) listeners[i]->listener.onEvent(event);
    }
    published = entry.seq;
    counts.published++;
  }
}

void EventLog::progress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction) {
  publishing = true;
  KJ_DEFER({
    publishing = false;
    compact();
  });
  for (size_t i = 0; i < listeners.size(); i++) {
    if (listeners[i] != nullptr) listeners[i]->listener.onProgress(taskId, uid, attempt, fraction);
  }
}

void EventLog::compact() {
  kj::Vector<SubscriptionImpl*> kept;
  for (auto entry : listeners) {
    if (entry != nullptr) kept.add(entry);
  }
  listeners = kj::mv(kept);
}

uint64_t EventLog::firstStored() { return store.firstEventSeq(); }

void EventLog::forEachStored(uint64_t seq, kj::FunctionParam<bool(records::Event::Reader)> fn) {
  store.forEachEventFrom(seq, fn);
}

kj::Own<EventLog::Subscription> EventLog::subscribe(EventListener& listener) {
  return kj::heap<SubscriptionImpl>(*this, listener);
}

void EventLog::setMaxEvents(uint64_t max) { maxEvents = max; }

void EventLog::prune() {
  // Keep the newest maxEvents; one batch per commit, the next after it.
  if (nextSeq - oldest <= maxEvents) {
    pruning = false;
    return;
  }
  pruning = true;
  uint64_t keepFrom = nextSeq - maxEvents;
  uint64_t batchEnd = kj::min(keepFrom, oldest + PRUNE_BATCH);
  store.deleteEventsBefore(batchEnd, PRUNE_BATCH);
  counts.pruned += batchEnd - oldest;
  oldest = batchEnd;
  tasks.add(commit.durable().then([this]() { prune(); }));
}

}  // namespace taskctl
