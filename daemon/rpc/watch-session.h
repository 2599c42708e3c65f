// One `taskctl watch` (Taskctl.watch in schema/rpc.capnp): the caller's
// task events, stored then live, streamed to its Watcher capability with no
// gap and no duplicate, in bounded memory.
//
// How it stays gapless: it subscribes to the EventLog first, then replays
// the store from `from`, chunk by chunk, up to whatever the log has published
// by then (everything published is committed). While it replays it ignores
// live events: they are in the store too, and the replay reads on until it
// reaches the published head. Only then does it switch to live, where the
// next published event is the one after the last replayed. A replay of any
// length thus costs no memory; only live events wait in a queue, and only
// while the watcher has callsInFlight calls unanswered.
//
// How it stays bounded: every batch is one call to the watcher, and at most
// Limits::callsInFlight of them are unanswered at a time: call k+N goes out
// only once call k has returned (the flow control `-> stream` used to give,
// kept on our side since the schema cannot use it). A watcher that returns
// slowly slows its watch; one that stops lets the queue grow to
// Limits::maxQueuedEvents or maxQueuedBytes. Past that the queue is dropped
// with the subscription, the watcher is told fellBehind(resumeFrom), and the
// watch ends.
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <kj/map.h>
#include <kj/timer.h>
#include <rpc.capnp.h>

#include <deque>

#include "events/event-log.h"

namespace taskctl {

class WatchSession final : private EventListener {
 public:
  struct Limits {
    size_t maxQueuedEvents = 10000;   // live events waiting for the watcher
    size_t maxQueuedBytes = 4 << 20;  // their memory, whichever limit comes first
    size_t batchEvents = 256;         // events per call to the watcher
    size_t callsInFlight = 8;         // calls to the watcher not yet returned, at most
    size_t replayScan = 4096;         // stored events read per loop turn while replaying
    size_t maxProgressTasks = 1024;   // tasks with a progress report waiting
    kj::Duration progressInterval = 500 * kj::MILLISECONDS;  // at most one batch per interval
  };

  struct Request {
    uint64_t from = 0;                         // 0: live only
    kj::Array<uint64_t> ids;                   // empty: every visible task
    bool progress = false;                     // also live progress reports
    kj::Function<bool(uint32_t uid)> visible;  // the caller may see this uid's tasks
    // A task's queue, for progress reports (which carry none); looked up only when a batch
    // goes out, so at most once per task per progressInterval. Null: none is sent.
    kj::Maybe<kj::Function<kj::String(uint64_t taskId)>> queueOf;
  };

  // `log` and `timer` outlive the session. Subscribes at once.
  WatchSession(EventLog& log, kj::Timer& timer, rpc::Watcher::Client watcher, Request request,
               Limits limits);
  ~WatchSession() noexcept(false);
  KJ_DISALLOW_COPY(WatchSession);

  kj::Promise<uint64_t> run();
  // Call once. Resolves only when the watcher fell behind, after it has been
  // told (its fellBehind() returned), with the seq to resume from. Rejects if
  // a call to the watcher fails (its client went away). Dropping the promise
  // ends the watch; the session must outlive it (attach the session to it).

  size_t queuedEvents() const { return queue.size(); }
  bool live() const { return mode == Mode::LIVE; }

 private:
  // A live event kept compact until it is sent (a few dozen bytes, not a
  // capnp message).
  struct Queued {
    uint64_t seq, taskId;
    int64_t at;
    uint32_t uid, attempt;
    records::TaskState from, to;
    records::EndReason reason;
    bool created;
    kj::String queue;
    kj::String action;  // "" for a plain state change (no allocation)
  };
  struct Progress {
    uint32_t uid, attempt;
    double fraction;
    int64_t at;  // realtime ns: when the report came
  };
  enum class Mode { REPLAY, LIVE, ENDED };

  EventLog& log;
  kj::Timer& timer;
  rpc::Watcher::Client watcher;
  Request request;
  Limits limits;

  kj::Own<EventLog::Subscription> subscription;
  Mode mode = Mode::REPLAY;
  uint64_t next;             // replay: the next seq to read; live: lower seqs are duplicates
  bool pruned = false;       // `from` was below the oldest stored event
  std::deque<Queued> queue;  // live, not yet sent, ascending by seq
  size_t queuedBytes = 0;
  kj::HashMap<uint64_t, Progress> progress;  // by task id: the latest report
  kj::TimePoint progressSentAt;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> wake;  // the live pump waits for work
  kj::Own<kj::PromiseFulfiller<uint64_t>> behind;       // resolves run() past the limits
  std::deque<kj::ForkedPromise<void>> inFlight;  // replies of calls to the watcher, oldest first

  void onEvent(records::Event::Reader event) override;
  void onProgress(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction) override;

  static size_t costOf(const Queued& queued);
  bool wanted(uint64_t taskId, uint32_t uid);
  void fallBehind(uint64_t resumeFrom);
  void poke();
  kj::Promise<uint64_t> pump();
  kj::Promise<uint64_t> replayChunk();
  kj::Promise<uint64_t> sendLive();
  kj::Promise<uint64_t> sent(kj::Promise<void> reply);
};

}  // namespace taskctl
