#include "rpc/watch-session.h"

#include <kj/debug.h>
#include <kj/time.h>

#include <algorithm>

#include "scheduler/scheduler.h"

namespace taskctl {

WatchSession::WatchSession(EventLog& log, kj::Timer& timer, rpc::Watcher::Client watcher,
                           Request requestArg, Limits limits)
    : log(log),
      timer(timer),
      watcher(kj::mv(watcher)),
      request(kj::mv(requestArg)),
      limits(limits),
      subscription(log.subscribe(*this)),
      progressSentAt(timer.now() - limits.progressInterval) {
  std::sort(request.ids.begin(), request.ids.end());
  // Subscribed above, so nothing published from here on is missed; what was
  // published before comes from the store.
  uint64_t head = log.lastPublished();
  if (request.from == 0) {
    next = head + 1;
  } else {
    uint64_t oldest = log.firstStored();
    if (oldest == 0) oldest = head + 1;  // nothing stored: all up to head is gone
    next = request.from;
    if (next < oldest) {
      pruned = true;
      next = oldest;
    }
  }
}

WatchSession::~WatchSession() noexcept(false) {}

kj::Promise<uint64_t> WatchSession::run() {
  auto paf = kj::newPromiseAndFulfiller<uint64_t>();
  behind = kj::mv(paf.fulfiller);
  auto started = watcher.startedRequest(capnp::MessageSize{4, 0});
  started.setFirstSeq(next);
  started.setPruned(pruned);
  return started.send()
      .then([this](auto&&) { return pump(); })
      // Past the limits the pump may be stuck waiting for a reply for good:
      // the fulfiller cuts it off.
      .exclusiveJoin(kj::mv(paf.promise))
      .then([this](uint64_t resumeFrom) {
        mode = Mode::ENDED;
        subscription = nullptr;
        // The last call, once every batch sent has been answered: a watcher
        // hears it only after it has handled everything before it (what
        // `-> stream` gave by itself), and a watcher that stopped reading
        // holds up only this watch.
        kj::Vector<kj::Promise<void>> replies(inFlight.size());
        for (auto& reply : inFlight) replies.add(reply.addBranch());
        return kj::joinPromises(replies.releaseAsArray()).then([this, resumeFrom]() {
          inFlight.clear();
          auto told = watcher.fellBehindRequest(capnp::MessageSize{4, 0});
          told.setResumeFrom(resumeFrom);
          return told.send().then([resumeFrom](auto&&) { return resumeFrom; });
        });
      });
}

size_t WatchSession::costOf(const Queued& queued) {
  // The record, its queue name with the allocator's header, the deque's share.
  return sizeof(Queued) + queued.queue.size() + 1 + 16 + 8 + queued.action.size();
}

bool WatchSession::wanted(uint64_t taskId, uint32_t uid) {
  // Task 0: the daemon's own change (`drain`), which holds back everyone's
  // tasks, so everyone watching them all sees it; never one watched by id.
  if (taskId == 0) return request.ids.size() == 0;
  if (!request.visible(uid)) return false;
  if (request.ids.size() == 0) return true;
  return std::binary_search(request.ids.begin(), request.ids.end(), taskId);
}

void WatchSession::onEvent(records::Event::Reader event) {
  // While replaying, the store has this event too: the replay reads on to it.
  if (mode != Mode::LIVE) return;
  uint64_t seq = event.getSeq();
  if (seq < next) return;  // already replayed
  next = seq + 1;
  if (!wanted(event.getTaskId(), event.getUid())) return;
  if (queue.size() >= limits.maxQueuedEvents || queuedBytes >= limits.maxQueuedBytes) {
    // Everything before the oldest queued event has been handed over.
    fallBehind(queue.empty() ? seq : queue.front().seq);
    return;
  }
  auto name = event.getQueue();
  queue.push_back(Queued{seq, event.getTaskId(), event.getAt(), event.getUid(), event.getAttempt(),
                         event.getFrom(), event.getTo(), event.getReason(), event.getCreated(),
                         kj::heapString(name), kj::heapString(event.getAction())});
  queuedBytes += costOf(queue.back());
  // A state change supersedes a report made before it.
  progress.erase(event.getTaskId());
  poke();
}

void WatchSession::onProgress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction) {
  if (mode != Mode::LIVE || !request.progress || !wanted(taskId, uid)) return;
  int64_t at = (kj::systemPreciseCalendarClock().now() - kj::UNIX_EPOCH) / kj::NANOSECONDS;
  KJ_IF_MAYBE (p, progress.find(taskId)) {
    *p = Progress{uid, attempt, fraction, at};
  } else if (progress.size() < limits.maxProgressTasks) {
    // Past the limit a report is dropped: progress is a hint, never owed.
    progress.insert(taskId, Progress{uid, attempt, fraction, at});
  }
  poke();
}

void WatchSession::fallBehind(uint64_t resumeFrom) {
  mode = Mode::ENDED;
  queue.clear();
  queue.shrink_to_fit();
  queuedBytes = 0;
  progress.clear();
  subscription = nullptr;  // allowed from within onEvent
  behind->fulfill(kj::cp(resumeFrom));
}

void WatchSession::poke() {
  KJ_IF_MAYBE (w, wake) {
    (*w)->fulfill();
    wake = nullptr;
  }
}

kj::Promise<uint64_t> WatchSession::pump() {
  switch (mode) {
    case Mode::REPLAY:
      return replayChunk();
    case Mode::LIVE:
      return sendLive();
    case Mode::ENDED:
      break;
  }
  return kj::NEVER_DONE;  // `behind` ends run()
}

namespace {

void fill(rpc::EventView::Builder view, uint64_t seq, uint64_t taskId, uint32_t uid,
          kj::StringPtr queue, bool created, records::TaskState from, records::TaskState to,
          uint32_t attempt, records::EndReason reason, int64_t at, kj::StringPtr action) {
  view.setSeq(seq);
  view.setTaskId(taskId);
  view.setUid(uid);
  view.setQueue(queue);
  if (taskId == 0) {
    // The daemon's own change (EventLog::recordDaemon): no state, from and to stay "".
    view.setAt(at);
    view.setAction(action);
    return;
  }
  if (!created) view.setFrom(stateName(from));
  view.setTo(stateName(to));
  view.setAttempt(attempt);
  view.setReason(reasonName(reason));
  view.setAt(at);
  if (action.size() > 0) view.setAction(action);
}

// Words for one event in a batch: the struct, its texts, list overhead.
constexpr uint64_t EVENT_WORDS = 16;

}  // namespace

kj::Promise<uint64_t> WatchSession::replayChunk() {
  uint64_t head = log.lastPublished();
  if (next > head) {
    // Caught up: everything published so far has been read, and the next
    // event published is live. Same turn, so none comes in between.
    mode = Mode::LIVE;
    return pump();
  }
  uint64_t oldest = log.firstStored();
  if (oldest == 0 || oldest > next) {
    // Retention pruned what this watcher had not read yet.
    fallBehind(next);
    return kj::NEVER_DONE;
  }

  // One read transaction per chunk, bounded, so a long replay shares the loop.
  capnp::MallocMessageBuilder scratch(limits.batchEvents * EVENT_WORDS);
  auto orphanage = scratch.getOrphanage();
  kj::Vector<capnp::Orphan<rpc::EventView>> batch(limits.batchEvents);
  size_t scanned = 0;
  bool cut = false;  // stopped by a limit, not by the end
  log.forEachStored(next, [&](records::Event::Reader e) {
    if (e.getSeq() > head) return false;  // not published yet: it comes live
    if (scanned == limits.replayScan || batch.size() == limits.batchEvents) {
      cut = true;
      return false;
    }
    scanned++;
    next = e.getSeq() + 1;
    if (wanted(e.getTaskId(), e.getUid())) {
      auto orphan = orphanage.newOrphan<rpc::EventView>();
      fill(orphan.get(), e.getSeq(), e.getTaskId(), e.getUid(), e.getQueue(), e.getCreated(),
           e.getFrom(), e.getTo(), e.getAttempt(), e.getReason(), e.getAt(), e.getAction());
      batch.add(kj::mv(orphan));
    }
    return true;
  });
  // Nothing more stored up to head (a refused submit leaves no event).
  if (!cut) next = kj::max(next, head + 1);

  if (batch.size() == 0) {
    // Only other users' events in this chunk: let the loop breathe, go on.
    return kj::evalLater([this]() { return pump(); });
  }
  auto call = watcher.eventsRequest(capnp::MessageSize{batch.size() * EVENT_WORDS + 8, 0});
  auto list = call.initEvents(batch.size());
  for (auto i : kj::indices(batch)) list.setWithCaveats(i, batch[i].getReader());
  return sent(call.send().ignoreResult());
}

kj::Promise<uint64_t> WatchSession::sent(kj::Promise<void> reply) {
  // The window: with fewer than callsInFlight unanswered, go on at once (on a
  // later turn, so a long replay shares the loop); else wait for the oldest.
  // A failed call (the watcher's client went away) rejects run() once it is
  // the oldest; the connection's end cancels the watch call anyway.
  inFlight.push_back(reply.fork());
  if (inFlight.size() < kj::max(limits.callsInFlight, size_t(1))) {
    return kj::evalLater([this]() { return pump(); });
  }
  return inFlight.front().addBranch().then([this]() {
    inFlight.pop_front();
    return pump();
  });
}

kj::Promise<uint64_t> WatchSession::sendLive() {
  if (!queue.empty()) {
    size_t n = kj::min(queue.size(), limits.batchEvents);
    auto call = watcher.eventsRequest(capnp::MessageSize{n * EVENT_WORDS + 8, 0});
    auto list = call.initEvents(n);
    for (size_t i = 0; i < n; i++) {
      auto& q = queue.front();
      fill(list[i], q.seq, q.taskId, q.uid, q.queue, q.created, q.from, q.to, q.attempt, q.reason,
           q.at, q.action);
      queuedBytes -= costOf(q);
      queue.pop_front();
    }
    return sent(call.send().ignoreResult());
  }

  if (progress.size() > 0) {
    auto now = timer.now();
    auto due = progressSentAt + limits.progressInterval;
    if (now < due) {
      // Coalesce until then; an event goes out at once meanwhile.
      auto paf = kj::newPromiseAndFulfiller<void>();
      wake = kj::mv(paf.fulfiller);
      return timer.atTime(due).exclusiveJoin(kj::mv(paf.promise)).then([this]() { return pump(); });
    }
    progressSentAt = now;
    auto call = watcher.progressRequest(capnp::MessageSize{progress.size() * 4 + 8, 0});
    auto list = call.initUpdates(progress.size());
    size_t i = 0;
    for (auto& entry : progress) {
      list[i].setTaskId(entry.key);
      list[i].setUid(entry.value.uid);
      list[i].setAttempt(entry.value.attempt);
      list[i].setFraction(entry.value.fraction);
      list[i].setAt(entry.value.at);
      KJ_IF_MAYBE (queueOf, request.queueOf) {
        list[i].setQueue((*queueOf)(entry.key));
      }
      i++;
    }
    progress.clear();
    return sent(call.send().ignoreResult());
  }

  auto paf = kj::newPromiseAndFulfiller<void>();
  wake = kj::mv(paf.fulfiller);
  return paf.promise.then([this]() { return pump(); });
}

}  // namespace taskctl
