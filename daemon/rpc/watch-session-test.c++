#include "rpc/watch-session.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/time.h>
#include <stdlib.h>

#include <vector>

#include "fake-runner.h"
#include "temp-dir.h"

namespace taskctl {
namespace {

using records::TaskState;

// What a watcher was told, in the order it was told.
struct Seen {
  kj::Maybe<uint64_t> firstSeq;
  bool pruned = false;
  std::vector<uint64_t> seqs;
  std::vector<uint64_t> taskIds;
  std::vector<std::string> transitions;  // "from>to:reason"
  std::vector<std::pair<uint64_t, double>> progress;
  size_t progressBatches = 0;
  std::vector<std::string> progressQueues;
  std::vector<int64_t> progressTimes;
  kj::Maybe<uint64_t> resumeFrom;
  bool fellBehindAfterEvents = true;  // no batch came after fellBehind
  // While set, an events batch is taken but not finished: a watcher that
  // stopped reading.
  bool stall = false;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> stalled;

  void release() {
    stall = false;
    for (auto& f : stalled) f->fulfill();
    stalled.clear();
  }
};

class RecordingWatcher final : public rpc::Watcher::Server {
 public:
  explicit RecordingWatcher(Seen& seen) : seen(seen) {}

  kj::Promise<void> started(StartedContext context) override {
    seen.firstSeq = context.getParams().getFirstSeq();
    seen.pruned = context.getParams().getPruned();
    return kj::READY_NOW;
  }
  kj::Promise<void> events(EventsContext context) override {
    if (seen.resumeFrom != nullptr) seen.fellBehindAfterEvents = false;
    for (auto e : context.getParams().getEvents()) {
      seen.seqs.push_back(e.getSeq());
      seen.taskIds.push_back(e.getTaskId());
      seen.transitions.push_back(kj::str(e.getFrom(), ">", e.getTo(), ":", e.getReason()).cStr());
    }
    if (!seen.stall) return kj::READY_NOW;
    auto paf = kj::newPromiseAndFulfiller<void>();
    seen.stalled.add(kj::mv(paf.fulfiller));
    return kj::mv(paf.promise);
  }
  kj::Promise<void> progress(ProgressContext context) override {
    seen.progressBatches++;
    for (auto p : context.getParams().getUpdates()) {
      seen.progress.push_back({p.getTaskId(), p.getFraction()});
      seen.progressQueues.push_back(p.getQueue().cStr());
      seen.progressTimes.push_back(p.getAt());
    }
    return kj::READY_NOW;
  }
  kj::Promise<void> fellBehind(FellBehindContext context) override {
    seen.resumeFrom = context.getParams().getResumeFrom();
    return kj::READY_NOW;
  }

 private:
  Seen& seen;
};

// A real store in a temp dir, its group commit and the event log on it; the
// events are recorded straight into the log, as the scheduler records them.
struct Harness {
  TempDir dir{"watch-test"};
  kj::EventLoop loop;
  kj::WaitScope waitScope{loop};
  kj::TimerImpl timer{kj::origin<kj::TimePoint>()};
  FakeClock clock;
  kj::Own<Store> store;
  kj::Own<GroupCommit> commit;
  kj::Own<EventLog> log;

  Harness() {
    store = kj::heap<Store>(dir / "store");
    commit = kj::heap<GroupCommit>(*store, timer);
    log = kj::heap<EventLog>(*store, *commit, clock, 1000000);
  }
  ~Harness() {
    log = nullptr;
    commit = nullptr;
    store = nullptr;
  }

  void settle() {
    for (int i = 0; i < 50; i++) waitScope.poll();
  }

  // Task `id` of `uid` moved from `from` (null: just submitted) to `to`.
  uint64_t change(uint64_t id, TaskState to, kj::Maybe<TaskState> from = TaskState::QUEUED,
                  uint32_t uid = 1000) {
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(id);
    task.setUid(uid);
    task.setQueue("default");
    task.setState(to);
    if (to == TaskState::FAILED) task.setReason(records::EndReason::EXIT);
    return log->record(task, from, 1);
  }
  // n events of task `id`, committed and published.
  void changes(uint64_t id, int n, uint32_t uid = 1000) {
    for (int i = 0; i < n; i++) change(id, TaskState::RUNNING, TaskState::STARTING, uid);
    settle();
  }

  struct Watch {
    kj::Own<WatchSession> session;
    kj::Promise<uint64_t> done;
  };
  Watch watch(Seen& seen, uint64_t from, WatchSession::Limits limits = {},
              kj::Array<uint64_t> ids = nullptr, bool progress = false,
              kj::Maybe<kj::Function<kj::String(uint64_t)>> queueOf = nullptr) {
    WatchSession::Request request;
    request.queueOf = kj::mv(queueOf);
    request.from = from;
    request.ids = kj::mv(ids);
    request.progress = progress;
    request.visible = [](uint32_t uid) { return uid == 1000; };
    auto session = kj::heap<WatchSession>(*log, timer, kj::heap<RecordingWatcher>(seen),
                                          kj::mv(request), limits);
    auto done = session->run().eagerlyEvaluate(nullptr);
    return Watch{kj::mv(session), kj::mv(done)};
  }
};

std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; s++) out.push_back(s);
  return out;
}

TEST(WatchSession, ReplaysFromASeqThenFollowsLiveWithNoGapAndNoDuplicate) {
  Harness h;
  h.changes(1, 40);
  Seen seen;
  WatchSession::Limits small;
  small.batchEvents = 7;  // the replay spans many turns...
  auto w = h.watch(seen, 5, small);
  // ...and the log moves on while it runs, before and after each turn.
  for (int i = 0; i < 30; i++) {
    h.change(1, TaskState::RUNNING, TaskState::STARTING);
    h.waitScope.poll();
  }
  h.settle();
  EXPECT_TRUE(w.session->live());
  h.changes(1, 5);
  EXPECT_EQ(seen.firstSeq, uint64_t(5));
  EXPECT_FALSE(seen.pruned);
  EXPECT_EQ(seen.seqs, range(5, 75));
  EXPECT_FALSE(w.done.poll(h.waitScope)) << "a healthy watch does not end";
}

TEST(WatchSession, FromZeroDeliversOnlyWhatHappensAfterwards) {
  Harness h;
  h.changes(1, 3);
  Seen seen;
  auto w = h.watch(seen, 0);
  h.settle();
  h.changes(1, 2);
  EXPECT_EQ(seen.firstSeq, uint64_t(4));
  EXPECT_EQ(seen.seqs, range(4, 5));
}

TEST(WatchSession, ShowsStatesAndReasonsAsWordsAndCreationWithoutFrom) {
  Harness h;
  h.change(1, TaskState::QUEUED, nullptr);
  h.change(1, TaskState::FAILED, TaskState::RUNNING);
  h.settle();
  Seen seen;
  auto w = h.watch(seen, 1);
  h.settle();
  EXPECT_EQ(seen.transitions, (std::vector<std::string>{">queued:", "running>failed:exit"}));
}

TEST(WatchSession, TheDaemonsOwnEventsGoToEveryWatchOfAllTasksAndToNoWatchOfIds) {
  // A drain by uid 0 (not the watcher's 1000): task 0, no states, replayed and live.
  Harness h;
  h.log->recordDaemon("drained", 0);
  h.change(1, TaskState::RUNNING);
  h.settle();
  Seen all, byId;
  auto w1 = h.watch(all, 1);
  auto w2 = h.watch(byId, 1, {}, kj::heapArray<uint64_t>({1}));
  h.settle();
  h.log->recordDaemon("undrained", 0);
  h.settle();
  EXPECT_EQ(all.taskIds, (std::vector<uint64_t>{0, 1, 0}));
  EXPECT_EQ(all.transitions, (std::vector<std::string>{">:", "queued>running:", ">:"}));
  EXPECT_EQ(byId.taskIds, (std::vector<uint64_t>{1}));
}

TEST(WatchSession, OnlyTheCallersTasksAndOnlyTheIdsAsked) {
  Harness h;
  h.change(1, TaskState::RUNNING);
  h.change(2, TaskState::RUNNING, TaskState::QUEUED, /*uid=*/0);  // someone else's
  h.change(3, TaskState::RUNNING);
  h.settle();
  Seen all, one;
  auto a = h.watch(all, 1);
  auto b = h.watch(one, 1, {}, kj::heapArray<uint64_t>({3}));
  h.settle();
  h.change(3, TaskState::SUCCEEDED, TaskState::RUNNING);
  h.change(2, TaskState::SUCCEEDED, TaskState::RUNNING, 0);
  h.change(1, TaskState::SUCCEEDED, TaskState::RUNNING);
  h.settle();
  EXPECT_EQ(all.taskIds, (std::vector<uint64_t>{1, 3, 3, 1}));
  EXPECT_EQ(one.taskIds, (std::vector<uint64_t>{3, 3}));
}

TEST(WatchSession, AFromBelowTheOldestKeptSaysSoAndStartsThere) {
  Harness h;
  h.changes(1, 20);
  h.store->deleteEventsBefore(11, 100);  // as retention of the log does
  h.settle();
  h.commit->durable().wait(h.waitScope);
  Seen seen;
  auto w = h.watch(seen, 3);
  h.settle();
  EXPECT_TRUE(seen.pruned);
  EXPECT_EQ(seen.firstSeq, uint64_t(11));
  EXPECT_EQ(seen.seqs, range(11, 20));
}

TEST(WatchSession, AStalledWatcherFallsBehindAtTheLimitWithoutGrowingAndIsTold) {
  Harness h;
  Seen seen;
  WatchSession::Limits small;
  small.maxQueuedEvents = 50;
  small.batchEvents = 10;
  auto w = h.watch(seen, 0, small);
  h.settle();
  seen.stall = true;  // takes one batch, then stops reading
  for (int i = 0; i < 200; i++) {
    h.change(1, TaskState::RUNNING, TaskState::STARTING);
    h.settle();
    EXPECT_LE(w.session->queuedEvents(), 50u);
  }
  EXPECT_EQ(w.session->queuedEvents(), 0u) << "the queue is dropped past the limit";
  EXPECT_FALSE(w.done.poll(h.waitScope)) << "told only once it reads again";
  seen.release();
  h.settle();
  ASSERT_TRUE(w.done.poll(h.waitScope));
  uint64_t resumeFrom = w.done.wait(h.waitScope);
  EXPECT_EQ(seen.resumeFrom, resumeFrom);
  EXPECT_TRUE(seen.fellBehindAfterEvents);
  // Everything below resumeFrom arrived, nothing at or past it.
  EXPECT_EQ(seen.seqs, range(1, resumeFrom - 1));

  // Resuming from there misses nothing.
  Seen again;
  auto w2 = h.watch(again, resumeFrom);
  h.settle();
  EXPECT_EQ(again.seqs, range(resumeFrom, 200));
}

TEST(WatchSession, TheByteLimitEndsAStalledWatchToo) {
  Harness h;
  Seen seen;
  WatchSession::Limits small;
  small.maxQueuedBytes = 2000;  // a few dozen events, well below maxQueuedEvents
  auto w = h.watch(seen, 0, small);
  h.settle();
  seen.stall = true;
  for (int i = 0; i < 100; i++) h.change(1, TaskState::RUNNING, TaskState::STARTING);
  h.settle();
  seen.release();
  h.settle();
  ASSERT_TRUE(w.done.poll(h.waitScope));
  uint64_t resumeFrom = w.done.wait(h.waitScope);
  EXPECT_LT(resumeFrom, 50u);
  EXPECT_EQ(seen.seqs, range(1, resumeFrom - 1));
}

TEST(WatchSession, ASlowReplayThatRetentionOvertakesFallsBehind) {
  Harness h;
  h.changes(1, 30);
  Seen seen;
  WatchSession::Limits small;
  small.batchEvents = 5;
  small.callsInFlight = 1;  // one batch out, then it waits for the reply
  seen.stall = true;
  auto w = h.watch(seen, 1, small);
  h.settle();
  ASSERT_EQ(seen.seqs, range(1, 5));
  h.store->deleteEventsBefore(20, 100);  // pruned while the watcher sat on its first batch
  h.commit->durable().wait(h.waitScope);
  seen.release();
  h.settle();
  ASSERT_TRUE(w.done.poll(h.waitScope));
  EXPECT_EQ(w.done.wait(h.waitScope), 6u);
  EXPECT_EQ(seen.resumeFrom, uint64_t(6));
}

TEST(WatchSession, AtMostCallsInFlightBatchesGoUnansweredAndEachReplyLetsOneMoreOut) {
  // The daemon's own flow control (the schema has no `-> stream`): batch k+N
  // goes out only once batch k has returned.
  Harness h;
  h.changes(1, 50);
  Seen seen;
  WatchSession::Limits small;
  small.batchEvents = 5;
  small.callsInFlight = 3;
  seen.stall = true;  // takes each batch and does not return
  auto w = h.watch(seen, 1, small);
  h.settle();
  EXPECT_EQ(seen.seqs, range(1, 15));
  EXPECT_EQ(seen.stalled.size(), 3u);
  // Live changes meanwhile wait in the daemon's bounded queue, not in calls.
  h.changes(1, 10);
  EXPECT_EQ(seen.seqs, range(1, 15));
  EXPECT_EQ(w.session->queuedEvents(), 0u) << "still replaying: live ones are read from the store";

  seen.stalled[0]->fulfill();  // the first returns: exactly one more goes out
  h.settle();
  EXPECT_EQ(seen.seqs, range(1, 20));
  EXPECT_EQ(seen.stalled.size(), 4u);

  seen.release();
  h.settle();
  EXPECT_EQ(seen.seqs, range(1, 60));
  EXPECT_TRUE(w.session->live());
  EXPECT_FALSE(w.done.poll(h.waitScope));
}

TEST(WatchSession, ProgressIsLiveCoalescedAndPaced) {
  Harness h;
  Seen seen;
  auto w = h.watch(seen, 0, {}, nullptr, /*progress=*/true);
  h.settle();
  h.log->progress(1, 1000, 1, 0.1);
  h.settle();
  h.log->progress(1, 1000, 1, 0.2);
  h.log->progress(1, 1000, 1, 0.3);
  h.log->progress(2, 0, 1, 0.5);  // not the caller's
  h.settle();
  EXPECT_EQ(seen.progressBatches, 1u) << "the next waits for the interval";
  h.timer.advanceTo(h.timer.now() + 500 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(seen.progress, (std::vector<std::pair<uint64_t, double>>{{1, 0.1}, {1, 0.3}}));
}

TEST(WatchSession, ProgressCarriesTheTasksQueueAndWhenItCame) {
  // Like a state change, a progress report says where (queue) and when (at).
  Harness h;
  Seen seen;
  size_t lookups = 0;
  auto w = h.watch(seen, 0, {}, nullptr, /*progress=*/true,
                   kj::Function<kj::String(uint64_t)>([&](uint64_t id) {
                     lookups++;
                     return kj::str("q", id);
                   }));
  h.settle();
  int64_t before = (kj::systemPreciseCalendarClock().now() - kj::UNIX_EPOCH) / kj::NANOSECONDS;
  h.log->progress(7, 1000, 1, 0.1);
  h.log->progress(7, 1000, 1, 0.2);  // coalesced: one lookup for the batch, not per report
  h.settle();
  int64_t after = (kj::systemPreciseCalendarClock().now() - kj::UNIX_EPOCH) / kj::NANOSECONDS;
  ASSERT_EQ(seen.progressQueues.size(), 1u);
  EXPECT_EQ(seen.progressQueues[0], "q7");
  EXPECT_GE(seen.progressTimes[0], before);
  EXPECT_LE(seen.progressTimes[0], after);
  EXPECT_EQ(lookups, 1u);
}

TEST(WatchSession, AStateChangeSupersedesTheProgressBeforeIt) {
  Harness h;
  Seen seen;
  auto w = h.watch(seen, 0, {}, nullptr, /*progress=*/true);
  h.settle();
  h.log->progress(1, 1000, 1, 0.1);
  h.settle();
  h.log->progress(1, 1000, 1, 0.9);
  h.change(1, TaskState::SUCCEEDED, TaskState::RUNNING);
  h.settle();
  h.timer.advanceTo(h.timer.now() + 500 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(seen.progress.size(), 1u);
  EXPECT_EQ(seen.seqs.size(), 1u);
}

}  // namespace
}  // namespace taskctl
