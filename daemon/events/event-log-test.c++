#include "events/event-log.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <stdlib.h>

#include <vector>

#include "fake-runner.h"
#include "temp-dir.h"

namespace taskctl {
namespace {

using records::TaskState;

struct Harness {
  TempDir dir{"events-test"};
  kj::EventLoop loop;
  kj::WaitScope waitScope{loop};
  kj::TimerImpl timer{kj::origin<kj::TimePoint>()};
  FakeClock clock;
  kj::Own<Store> store;
  kj::Own<GroupCommit> commit;
  kj::Own<EventLog> log;
  uint64_t nextId = 1;

  explicit Harness(uint64_t maxEvents = 100000) { open(maxEvents); }
  ~Harness() { close(); }
  void open(uint64_t maxEvents) {
    store = kj::heap<Store>(dir / "store");
    commit = kj::heap<GroupCommit>(*store, timer);
    log = kj::heap<EventLog>(*store, *commit, clock, maxEvents);
  }
  void close() {
    log = nullptr;
    commit = nullptr;
    store = nullptr;
  }
  void settle() {
    for (int i = 0; i < 20; i++) waitScope.poll();
  }
  // A task in `to`, as the scheduler would stage it, and its event.
  uint64_t change(TaskState to, kj::Maybe<TaskState> from = TaskState::QUEUED,
                  bool droppable = false) {
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(store->allocateId());
    task.setUid(1000);
    task.setQueue("default");
    task.setState(to);
    store->putTask(task, droppable);
    return log->record(task, from, 1, droppable);
  }
};

struct Recorder final : public EventListener {
  std::vector<uint64_t> seqs;
  std::vector<std::pair<TaskState, bool>> changes;  // (to, created)
  kj::Maybe<kj::Own<EventLog::Subscription>> subscription;
  bool dropSelfOnFirst = false;
  void onEvent(records::Event::Reader event) override {
    seqs.push_back(event.getSeq());
    changes.push_back({event.getTo(), event.getCreated()});
    if (dropSelfOnFirst) subscription = nullptr;
  }
  void onProgress(uint64_t, uint32_t, uint32_t, double) override {}
};

TEST(EventLog, PublishesInSeqOrderOnlyOnceDurable) {
  Harness h;
  Recorder r;
  auto sub = h.log->subscribe(r);
  auto a = h.change(TaskState::QUEUED, nullptr);
  auto b = h.change(TaskState::RUNNING);
  auto c = h.change(TaskState::SUCCEEDED);
  EXPECT_EQ(b, a + 1);
  EXPECT_EQ(c, b + 1);
  EXPECT_TRUE(r.seqs.empty()) << "published before the commit";
  h.settle();
  EXPECT_EQ(r.seqs, (std::vector<uint64_t>{a, b, c}));
  EXPECT_TRUE(r.changes[0].second) << "the first is a creation";
  EXPECT_EQ(h.log->lastPublished(), c);
  // Stored, in order, for replay.
  std::vector<uint64_t> stored;
  h.store->forEachEventFrom(b, [&](records::Event::Reader e) {
    stored.push_back(e.getSeq());
    return true;
  });
  EXPECT_EQ(stored, (std::vector<uint64_t>{b, c}));
}

TEST(EventLog, SeqsContinueAcrossARestart) {
  Harness h;
  h.change(TaskState::QUEUED, nullptr);
  auto last = h.change(TaskState::RUNNING);
  h.settle();
  h.close();
  h.open(100000);
  EXPECT_EQ(h.log->lastPublished(), last);
  EXPECT_EQ(h.change(TaskState::SUCCEEDED), last + 1);
}

TEST(EventLog, AForgottenEventIsNeverPublished) {
  Harness h;
  Recorder r;
  auto sub = h.log->subscribe(r);
  auto a = h.change(TaskState::QUEUED, nullptr, /*droppable=*/true);
  h.log->forget(a);
  h.store->dropDroppable();
  auto b = h.change(TaskState::RUNNING);
  h.settle();
  EXPECT_EQ(r.seqs, (std::vector<uint64_t>{b}));
}

TEST(EventLog, KeepsAtMostMaxEventsOnceItPrunes) {
  Harness h(1000);
  for (int i = 0; i < 5000; i++) {
    h.change(TaskState::RUNNING);
    if (i % 100 == 0) h.settle();
  }
  h.settle();
  uint64_t first = h.store->firstEventSeq(), last = h.store->lastEventSeq();
  EXPECT_EQ(last, 5000u);
  // Pruning runs in batches past a margin: never more than max + one batch.
  EXPECT_LE(last - first + 1, 1000u + 1024u);
  EXPECT_GE(last - first + 1, 1000u);
  EXPECT_GT(h.log->stats().pruned, 0u);
}

TEST(EventLog, AListenerMayUnsubscribeWhileBeingCalled) {
  Harness h;
  Recorder quitter, stayer;
  quitter.dropSelfOnFirst = true;
  quitter.subscription = h.log->subscribe(quitter);
  auto sub = h.log->subscribe(stayer);
  h.change(TaskState::QUEUED, nullptr);
  h.change(TaskState::RUNNING);
  h.settle();
  EXPECT_EQ(quitter.seqs.size(), 1u);
  EXPECT_EQ(stayer.seqs.size(), 2u);
}

}  // namespace
}  // namespace taskctl
