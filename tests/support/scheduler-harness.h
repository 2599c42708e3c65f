// The harness of scheduler tests: a real Store in a temp dir, its GroupCommit,
// an EventLog and a Scheduler, over a fake runner, a fake notify hub and fake
// time, all on one kj event loop. A new scheduler test needs only this:
//
//   TEST(Scheduling, Something) {
//     SchedulerHarness h(1);                 // queue "default" runs one at a time
//     auto id = h.submit([](auto r) { r.setPriority(-5); });   // as alice
//     h.settle();                            // dispatch: the fake runner starts it
//     h.exit(id, 0);                         // the execution ends; the loop runs
//     EXPECT_EQ(h.state(id), records::TaskState::SUCCEEDED);
//   }
//
// Nothing happens between two calls: a submit returns once it is committed,
// and the loop runs only in settle() and the helpers that say they settle.
// Time moves only when the test moves it (advance, stepClock). More settings:
// SchedulerHarness h({.concurrency = 1, .maxUserPriority = 100}); or change
// h.config and call h.scheduler->reloadQueues(h.config). restart() is a daemon
// restart over the same store. The fakes (runner, notify hub, clock) are in
// fake-runner.h and are members here: h.runner.launched, h.runner.exit(...).
#pragma once

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "fake-runner.h"
#include "scheduler/scheduler.h"
#include "temp-dir.h"

namespace taskctl {

// A kj::Timer that counts the waits it has handed out and that are still
// held: the scheduler must keep one, however many tasks wait.
class CountingTimer final : public kj::Timer {
 public:
  explicit CountingTimer(kj::TimerImpl& inner) : inner(inner) {}
  kj::TimePoint now() const override { return inner.now(); }
  kj::Promise<void> atTime(kj::TimePoint time) override {
    live++;
    return inner.atTime(time).attach(kj::defer([this]() { live--; }));
  }
  kj::Promise<void> afterDelay(kj::Duration delay) override { return atTime(inner.now() + delay); }
  size_t live = 0;

 private:
  kj::TimerImpl& inner;
};

// The same for the wall-clock timer.
class CountingWallTimer final : public WallTimer {
 public:
  explicit CountingWallTimer(FakeWallTimer& inner) : inner(inner) {}
  kj::Promise<void> atOrAfter(kj::Date when) override {
    live++;
    return inner.atOrAfter(when).attach(kj::defer([this]() { live--; }));
  }
  size_t live = 0;

 private:
  FakeWallTimer& inner;
};

// The lower half, for a test of a part beside the scheduler (retention): the
// temp dir, the loop, fake time, the store and its group commit.
struct StoreHarness {
  TempDir dir{"harness"};  // first made, last removed
  kj::EventLoop loop;
  kj::WaitScope waitScope{loop};
  // Fake time: `timer` is the monotonic clock (the loop's timer), `clock` the
  // wall clock (1700000000 s after the epoch at first), `wallTimer` waits on it.
  kj::TimerImpl timer{kj::origin<kj::TimePoint>()};
  FakeClock clock;
  FakeWallTimer wallTimer{clock};
  StoreOptions storeOptions;
  kj::Own<Store> store;
  kj::Own<GroupCommit> commit;

  explicit StoreHarness(StoreOptions storeOptions = {}) : storeOptions(storeOptions) { open(); }
  ~StoreHarness() noexcept(false) { close(); }

  void open() {
    store = kj::heap<Store>(dir / "store", storeOptions);
    commit = kj::heap<GroupCommit>(*store, timer);
  }
  // In reverse: what is open goes, the files stay.
  void close() {
    commit = nullptr;
    store = nullptr;
  }

  // Runs the loop until nothing is left to do in this instant.
  void settle() { loop.run(); }

  // Time passes: both clocks move together, as they do on a machine whose
  // clock nobody sets; what became due runs.
  void advance(kj::Duration d) {
    clock.time = clock.time + d;
    timer.advanceTo(timer.now() + d);
    wallTimer.check();
    settle();
  }
  // The wall clock is stepped (settimeofday, NTP); elapsed time does not move.
  void stepClock(kj::Duration d) {
    clock.time = clock.time + d;
    wallTimer.clockSet();
    settle();
  }

  // The realtime clock as the store keeps it.
  int64_t nowNs() { return (clock.time - kj::UNIX_EPOCH) / kj::NANOSECONDS; }
  // The monotonic clock, in ns of fake time.
  int64_t monotonicNs() { return (timer.now() - kj::origin<kj::TimePoint>()) / kj::NANOSECONDS; }
  // The monotonic timer's next event, in ns of fake time (-1: none).
  int64_t nextEventNs() {
    KJ_IF_MAYBE (when, timer.nextEvent()) {
      return (*when - kj::origin<kj::TimePoint>()) / kj::NANOSECONDS;
    }
    return -1;
  }
  // Where the one wall-clock wait is armed, as realtime ns (-1: none).
  int64_t wallArmedNs() {
    KJ_IF_MAYBE (when, wallTimer.armed()) return (*when - kj::UNIX_EPOCH) / kj::NANOSECONDS;
    return -1;
  }

  // Poll, then wait: a promise that is not ready fails the test instead of hanging it.
  template <typename T>
  T await(kj::Promise<T> promise) {
    KJ_ASSERT(promise.poll(waitScope), "not ready");
    return promise.wait(waitScope);
  }

  // The stored task; fails the test if there is none.
  kj::Own<Record<records::Task>> record(uint64_t id) {
    KJ_IF_MAYBE (t, store->getTask(id)) return kj::mv(*t);
    KJ_FAIL_ASSERT("no such task", id);
  }
  records::TaskState state(uint64_t id) { return record(id)->get().getState(); }
  std::string message(uint64_t id) { return record(id)->get().getMessage().cStr(); }
  int exitStatus(uint64_t id) { return exitStatusOf(record(id)->get()); }
  size_t taskCount() {
    size_t n = 0;
    store->forEachTask([&](auto) { return ++n, true; });
    return n;
  }
};

// What a test puts in a submit's spec. Its argv is {"x"} unless this sets one.
using Fill = kj::Function<void(spec::TaskSpec::Builder)>;

// The whole: a scheduler with its event log over the store, started.
struct SchedulerHarness : StoreHarness {
  struct Options {
    uint32_t concurrency = 4;  // of queue "default"; queue "batch" runs one at a time
    // Every queue's max_user_priority: the highest priority an ordinary user may set.
    int32_t maxUserPriority = 0;
    StoreOptions store = {};
  };

  // `timer` and `wallTimer` as the scheduler sees them: counted.
  CountingTimer countingTimer{timer};
  CountingWallTimer countingWallTimer{wallTimer};
  FakeRunner runner;
  FakeNotifyHub notify;
  Config config = defaultConfig();
  kj::Own<EventLog> events;
  kj::Own<Scheduler> scheduler;

  Identity alice{1000, 1000, kj::heapArray<gid_t>({1000})};
  Identity bob{1001, 1001, kj::heapArray<gid_t>({1001})};
  Identity root{0, 0, kj::heapArray<gid_t>({0})};

  explicit SchedulerHarness(Options options) : StoreHarness(options.store) {
    config.queues[0].concurrency = options.concurrency;
    config.queues.add(QueueConfig{kj::str("batch"), 1});
    for (auto& q : config.queues) q.maxUserPriority = options.maxUserPriority;
    openScheduler();
    scheduler->start();
  }
  explicit SchedulerHarness(uint32_t concurrency = 4)
      : SchedulerHarness(Options{.concurrency = concurrency}) {}
  ~SchedulerHarness() noexcept(false) { close(); }

  // Store, commit, events, scheduler, in this order; not recovered, not started.
  void open() {
    StoreHarness::open();
    openScheduler();
  }
  // The same in reverse.
  void close() {
    scheduler = nullptr;
    events = nullptr;
    StoreHarness::close();
  }
  // A daemon restart: everything in memory is gone; the store remains.
  void restart() {
    settle();
    close();
    open();
    scheduler->recover();
    scheduler->start();
    settle();
  }

  kj::Promise<uint64_t> startSubmit(const Identity& who, Fill fill, SubmitExtras extras = {}) {
    capnp::MallocMessageBuilder message;
    auto request = message.initRoot<spec::TaskSpec>();
    request.initArgv(1).set(0, "x"_kj.asBytes());
    fill(request);
    return scheduler->submit(request, who, extras);
  }
  // Submits as `who` (alice if not said); the id once the task is committed.
  // Nothing else has run yet: settle() to dispatch.
  uint64_t submit(
      const Identity& who, Fill fill = [](auto) {}, SubmitExtras extras = {}) {
    auto promise = startSubmit(who, kj::mv(fill), extras);
    EXPECT_TRUE(promise.poll(waitScope));
    return promise.wait(waitScope);
  }
  uint64_t submit(
      Fill fill = [](auto) {}, SubmitExtras extras = {}) {
    return submit(alice, kj::mv(fill), extras);
  }
  // Submits, expecting a refusal; returns its message ("" if none).
  std::string submitError(const Identity& who, Fill fill, SubmitExtras extras = {}) {
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   auto promise = startSubmit(who, kj::mv(fill), extras);
                   EXPECT_TRUE(promise.poll(waitScope));
                   promise.wait(waitScope);
                 })) {
      return e->getDescription().cStr();
    }
    return "";
  }
  std::string submitError(Fill fill, SubmitExtras extras = {}) {
    return submitError(alice, kj::mv(fill), extras);
  }

  // Which task ids the runner was asked to start, in order.
  std::vector<uint64_t> launchedIds() {
    std::vector<uint64_t> ids;
    for (auto& l : runner.launched) ids.push_back(l.taskId);
    return ids;
  }
  // The index in runner.launched of the task's latest execution.
  size_t indexOf(uint64_t id) {
    for (size_t i = runner.launched.size(); i-- > 0;) {
      if (runner.launched[i].taskId == id) return i;
    }
    KJ_FAIL_ASSERT("never launched", id);
  }
  bool launched(uint64_t id) {
    for (auto& l : runner.launched) {
      if (l.taskId == id) return true;
    }
    return false;
  }
  // The task's latest execution exits with `code`; the loop runs.
  void exit(uint64_t id, int code) {
    runner.exit(indexOf(id), code);
    settle();
  }

 private:
  void openScheduler() {
    events = kj::heap<EventLog>(*store, *commit, clock, 100000);
    scheduler = kj::heap<Scheduler>(*store, *commit, *events, runner, notify, countingTimer, clock,
                                    countingWallTimer, config);
  }
};

}  // namespace taskctl
