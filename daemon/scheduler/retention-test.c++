#include "scheduler/retention.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <set>
#include <utility>

#include "scheduler-harness.h"

namespace taskctl {
namespace {

using records::EndReason;
using records::TaskState;

// A runner whose logs are real files in the test's directory, so a test can
// see them go. Retention only asks for log paths and releases.
class LogRunner final : public Runner {
 public:
  explicit LogRunner(kj::StringPtr dir) : dir(dir) {}

  kj::Vector<std::pair<uint64_t, uint32_t>> released;

  kj::StringPtr name() const override { return "logs"; }
  kj::String unitFor(uint64_t, uint32_t) override { return kj::str(); }
  kj::Promise<kj::Own<Execution>> start(records::Task::Reader, records::Attempt::Reader) override {
    return KJ_EXCEPTION(FAILED, "retention never starts anything");
  }
  kj::Maybe<kj::Own<Execution>> adopt(records::Attempt::Reader) override { return nullptr; }
  kj::Maybe<kj::Own<ExecOutcome>> readOutcome(uint64_t, uint32_t) override { return nullptr; }
  void stopRemains(records::Attempt::Reader) override {}
  void release(uint64_t taskId, uint32_t attempt) override { released.add(taskId, attempt); }
  kj::String logPath(uint64_t taskId, uint32_t attempt) override {
    return kj::str(dir, "/", taskId, "-", attempt, ".log");
  }

 private:
  kj::StringPtr dir;
};

// Retention over the lower half of the shared harness (a real store in a temp
// dir, a real group commit, fake time: a TimerImpl for the loop's timer, a
// FakeClock for the realtime clock, moved together) and a runner whose logs are
// files: in the test's directory, or in `logsSubdir` of it (which nothing creates).
struct Harness : StoreHarness {
  kj::String logs;
  kj::Own<LogRunner> runner;
  std::set<uint64_t> active;  // what the "scheduler" still owns
  kj::Own<Retention> retention;

  explicit Harness(RetentionConfig config, kj::StringPtr logsSubdir = nullptr)
      : logs(logsSubdir == nullptr ? kj::str(dir.path) : dir / logsSubdir),
        runner(kj::heap<LogRunner>(logs)),
        retention(kj::heap<Retention>(
            *store, *commit, timer, clock, *runner,
            [this](uint64_t id) { return active.count(id) > 0; }, config)) {}

  int64_t now() const { return (clock.now() - kj::UNIX_EPOCH) / kj::NANOSECONDS; }

  // Stages a task (and its attempts, with a log file each) as the scheduler
  // would have stored it. Not committed.
  uint64_t put(TaskState state, int64_t finishedAt, uint32_t attempts = 1, int exitCode = 0,
               uint32_t uid = 1000, size_t logBytes = 0) {
    uint64_t id = store->allocateId();
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(id);
    task.setUid(uid);
    task.setGid(uid);
    task.setQueue("default");
    task.setCreatedAt(finishedAt - 1000000000);
    task.setState(state);
    task.setAttempts(attempts);
    if (isTerminal(state)) {
      task.setFinishedAt(finishedAt);
      task.setReason(EndReason::EXIT);
      task.setExitCode(exitCode);
    }
    store->putTask(task);
    for (uint32_t n = 1; n <= attempts; n++) {
      capnp::MallocMessageBuilder m;
      auto attempt = m.initRoot<records::Attempt>();
      attempt.setTaskId(id);
      attempt.setNumber(n);
      attempt.setState(state);
      store->putAttempt(attempt);
      int fd = ::open(runner->logPath(id, n).cStr(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      KJ_ASSERT(fd >= 0);
      KJ_ASSERT(ftruncate(fd, logBytes) == 0);
      ::close(fd);
    }
    return id;
  }

  // Stages the prune of a stored terminal task as Retention does, and nothing
  // else: its log files stay, as after a crash before their unlink.
  void prune(uint64_t id) {
    auto record = KJ_ASSERT_NONNULL(store->getTask(id));
    auto task = record->get();
    capnp::MallocMessageBuilder message;
    auto tombstone = message.initRoot<records::Tombstone>();
    tombstone.setId(id);
    tombstone.setUid(task.getUid());
    tombstone.setState(task.getState());
    tombstone.setFinishedAt(task.getFinishedAt());
    store->pruneTask(id, tombstone);
  }

  // An empty file in the logs directory.
  void touch(kj::StringPtr name) {
    int fd = ::open(kj::str(logs, "/", name).cStr(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    KJ_ASSERT(fd >= 0, name);
    ::close(fd);
  }
  bool exists(kj::StringPtr name) { return access(kj::str(logs, "/", name).cStr(), F_OK) == 0; }

  void putRequest(kj::StringPtr requestId, uint64_t taskId, int64_t createdAt) {
    capnp::MallocMessageBuilder message;
    auto mapping = message.initRoot<records::RequestMapping>();
    mapping.setTaskId(taskId);
    mapping.setCreatedAt(createdAt);
    store->putRequest(1000, requestId, mapping);
  }

  bool stored(uint64_t id) { return store->getTask(id) != nullptr; }
  bool hasTombstone(uint64_t id) { return store->getTombstone(id) != nullptr; }
  bool hasLog(uint64_t id, uint32_t n) { return access(runner->logPath(id, n).cStr(), F_OK) == 0; }
  bool hasRequest(kj::StringPtr requestId) { return store->getRequest(1000, requestId) != nullptr; }
  // Time from the timer's now to its next event; -1 if nothing is armed.
  int64_t armedInSeconds() {
    KJ_IF_MAYBE (next, timer.nextEvent()) {
      return (*next - timer.now()) / kj::SECONDS;
    }
    return -1;
  }
};

RetentionConfig countOnly(uint64_t maxTasks) {
  RetentionConfig config;
  config.maxTasks = maxTasks;
  return config;
}

// Nothing is ever pruned: only the sweep for orphaned logs acts.
RetentionConfig keepAll() {
  RetentionConfig config;
  config.maxAgeUsec = 0;
  config.maxTasks = 0;
  config.tombstoneAgeUsec = 0;
  return config;
}

// Holds what KJ_LOG says (INFO included) while it lives, so a test can tell
// that something was logged, or that nothing went wrong.
class LogCapture final : public kj::ExceptionCallback {
 public:
  LogCapture() : wasInfo(kj::_::Debug::shouldLog(kj::LogSeverity::INFO)) {
    kj::_::Debug::setLogLevel(kj::LogSeverity::INFO);
  }
  ~LogCapture() noexcept(false) {
    if (!wasInfo) kj::_::Debug::setLogLevel(kj::LogSeverity::WARNING);
  }

  void logMessage(kj::LogSeverity severity, const char* file, int line, int contextDepth,
                  kj::String&& text) override {
    if (severity == kj::LogSeverity::WARNING || severity == kj::LogSeverity::ERROR ||
        severity == kj::LogSeverity::FATAL) {
      problems++;
    }
    lines.add(kj::str(text));
    ExceptionCallback::logMessage(severity, file, line, contextDepth, kj::mv(text));
  }

  size_t saying(kj::StringPtr words) const {
    size_t n = 0;
    for (auto& line : lines) n += strstr(line.cStr(), words.cStr()) != nullptr;
    return n;
  }

  size_t problems = 0;  // warnings and errors

 private:
  bool wasInfo;
  kj::Vector<kj::String> lines;
};

TEST(Retention, KeepsTheNewestMaxTasksAndLeavesTombstonesForThePruned) {
  Harness h(countOnly(100));
  kj::Vector<uint64_t> ids;
  for (int i = 0; i < 1000; i++) {
    int code = i % 7;
    ids.add(h.put(code == 0 ? TaskState::SUCCEEDED : TaskState::FAILED,
                  h.now() - (1000 - i) * int64_t(1000000000), i % 3 == 0 ? 2 : 1, code));
  }
  h.store->commit();
  ASSERT_EQ(h.store->finishedCount(), 1000u);

  h.retention->start();
  h.settle();

  EXPECT_EQ(h.store->finishedCount(), 100u);
  EXPECT_EQ(h.retention->stats().pruned, 900u);
  size_t attempts = 0;
  for (int i = 0; i < 900; i++) {
    uint64_t id = ids[i];
    EXPECT_FALSE(h.stored(id)) << id;
    EXPECT_TRUE(h.store->getAttempt(id, 1) == nullptr) << id;
    EXPECT_FALSE(h.hasLog(id, 1)) << id;
    EXPECT_FALSE(h.hasLog(id, 2)) << id;
    attempts += i % 3 == 0 ? 2 : 1;
    KJ_IF_MAYBE (t, h.store->getTombstone(id)) {
      auto tombstone = (*t)->get();
      EXPECT_EQ(tombstone.getId(), id);
      EXPECT_EQ(tombstone.getUid(), 1000u);
      EXPECT_EQ(tombstone.getState(), i % 7 == 0 ? TaskState::SUCCEEDED : TaskState::FAILED);
      EXPECT_EQ(tombstone.getReason(), EndReason::EXIT);
      EXPECT_EQ(tombstone.getExitCode(), i % 7);
      EXPECT_EQ(tombstone.getFinishedAt(), h.now() - (1000 - i) * int64_t(1000000000));
      EXPECT_EQ(tombstone.getQueue(), "default");
    } else {
      ADD_FAILURE() << "no tombstone for " << id;
    }
  }
  EXPECT_EQ(h.runner->released.size(), attempts);
  for (int i = 900; i < 1000; i++) {
    EXPECT_TRUE(h.stored(ids[i])) << ids[i];
    EXPECT_TRUE(h.hasLog(ids[i], 1)) << ids[i];
    EXPECT_FALSE(h.hasTombstone(ids[i])) << ids[i];
  }

  // One more finishes: only then, and only the oldest left, goes.
  auto late = h.put(TaskState::SUCCEEDED, h.now());
  auto durable = h.commit->durable();
  h.retention->taskFinished(late, h.now());
  ASSERT_TRUE(durable.poll(h.waitScope));
  durable.wait(h.waitScope);
  h.settle();
  EXPECT_EQ(h.store->finishedCount(), 100u);
  EXPECT_FALSE(h.stored(ids[900]));
  EXPECT_TRUE(h.hasTombstone(ids[900]));
  EXPECT_TRUE(h.stored(ids[901]));
  EXPECT_TRUE(h.stored(late));
}

TEST(Retention, NeverPrunesATaskThatIsNotTerminalNorOneTheSchedulerStillOwns) {
  RetentionConfig config;
  config.maxAgeUsec = 3600ull * 1000000;
  config.maxTasks = 1;
  Harness h(config);
  int64_t old = h.now() - int64_t(2 * 3600) * 1000000000;
  kj::Vector<uint64_t> live;
  for (auto state : {TaskState::WAITING, TaskState::QUEUED, TaskState::STARTING, TaskState::RUNNING,
                     TaskState::RETRYING}) {
    live.add(h.put(state, old));
  }
  auto owned = h.put(TaskState::SUCCEEDED, old - 1000000000);  // the oldest finished
  h.active.insert(owned);
  auto done = h.put(TaskState::FAILED, old, 1, 3);
  h.store->commit();

  h.retention->start();
  h.settle();
  h.advance(10 * kj::MINUTES);

  for (auto id : live) {
    EXPECT_TRUE(h.stored(id)) << id;
    EXPECT_TRUE(h.hasLog(id, 1)) << id;
    EXPECT_FALSE(h.hasTombstone(id)) << id;
  }
  EXPECT_TRUE(h.stored(owned));
  EXPECT_TRUE(h.hasLog(owned, 1));
  EXPECT_FALSE(h.hasTombstone(owned));
  EXPECT_FALSE(h.stored(done));  // the control: old and terminal
  EXPECT_TRUE(h.hasTombstone(done));

  // Once the scheduler lets go of it, it goes too (a minute later at most).
  h.active.erase(owned);
  h.advance(1 * kj::MINUTES);
  EXPECT_FALSE(h.stored(owned));
  EXPECT_TRUE(h.hasTombstone(owned));
  EXPECT_FALSE(h.hasLog(owned, 1));
  for (auto id : live) EXPECT_TRUE(h.stored(id)) << id;
}

TEST(Retention, PrunesByAgeOnlyOnceTheDeadlinePassesWithOneTimerAndNoPolling) {
  RetentionConfig config;
  config.maxAgeUsec = 3600ull * 1000000;
  config.maxTasks = 0;
  config.tombstoneAgeUsec = 30ull * 86400 * 1000000;
  Harness h(config);
  auto first = h.put(TaskState::SUCCEEDED, h.now());
  auto second = h.put(TaskState::SUCCEEDED, h.now() + int64_t(600) * 1000000000);
  h.store->commit();
  h.retention->start();
  h.settle();
  EXPECT_EQ(h.armedInSeconds(), 3600);  // the oldest finish + max age

  h.advance(59 * kj::MINUTES);
  EXPECT_TRUE(h.stored(first));
  EXPECT_EQ(h.armedInSeconds(), 60);  // untouched: nothing woke in between
  h.advance(1 * kj::MINUTES);
  EXPECT_FALSE(h.stored(first));
  EXPECT_TRUE(h.hasLog(second, 1));
  EXPECT_TRUE(h.stored(second));
  EXPECT_EQ(h.armedInSeconds(), 600);  // the next one's deadline
  h.advance(10 * kj::MINUTES);
  EXPECT_FALSE(h.stored(second));
  EXPECT_EQ(h.retention->stats().pruned, 2u);
  // Only the first tombstone's expiry is left to wait for.
  EXPECT_EQ(h.armedInSeconds(), 30 * 86400 - 3600 - 600);
}

TEST(Retention, ArmsTheTimerForATaskThatFinishesAfterStart) {
  RetentionConfig config;
  config.maxAgeUsec = 3600ull * 1000000;
  config.maxTasks = 0;
  config.tombstoneAgeUsec = 0;  // kept for ever
  Harness h(config);
  h.retention->start();
  h.settle();
  EXPECT_EQ(h.armedInSeconds(), -1);  // nothing stored: nothing armed

  auto id = h.put(TaskState::SUCCEEDED, h.now());
  auto durable = h.commit->durable();
  h.retention->taskFinished(id, h.now());
  durable.wait(h.waitScope);
  h.settle();
  EXPECT_EQ(h.armedInSeconds(), 3600);
  h.advance(59 * kj::MINUTES);
  EXPECT_TRUE(h.stored(id));
  h.advance(1 * kj::MINUTES);
  EXPECT_FALSE(h.stored(id));
  EXPECT_TRUE(h.hasTombstone(id));
  EXPECT_EQ(h.armedInSeconds(), -1);
}

TEST(Retention, ExpiresTombstonesAtTheirAge) {
  RetentionConfig config;
  config.maxAgeUsec = 3600ull * 1000000;
  config.maxTasks = 0;
  config.tombstoneAgeUsec = 2 * 3600ull * 1000000;
  Harness h(config);
  auto id = h.put(TaskState::CANCELLED, h.now());
  h.store->commit();
  h.retention->start();
  h.settle();

  h.advance(1 * kj::HOURS);
  EXPECT_FALSE(h.stored(id));
  EXPECT_TRUE(h.hasTombstone(id));
  h.advance(59 * kj::MINUTES);
  EXPECT_TRUE(h.hasTombstone(id));
  EXPECT_EQ(h.retention->stats().tombstonesExpired, 0u);
  h.advance(1 * kj::MINUTES);
  EXPECT_FALSE(h.hasTombstone(id));
  EXPECT_EQ(h.retention->stats().tombstonesExpired, 1u);
  EXPECT_EQ(h.armedInSeconds(), -1);
}

TEST(Retention, WaitsAtLeastASecondForADeadlineAlreadyPast) {
  // A tombstone age below the max age: the tombstone a prune leaves is due at
  // once. The timer still waits a second (no busy loop), then it goes.
  RetentionConfig config;
  config.maxAgeUsec = 2 * 3600ull * 1000000;
  config.maxTasks = 0;
  config.tombstoneAgeUsec = 3600ull * 1000000;
  Harness h(config);
  auto id = h.put(TaskState::SUCCEEDED, h.now() - int64_t(3 * 3600) * 1000000000);
  h.store->commit();
  h.retention->start();
  h.settle();
  EXPECT_FALSE(h.stored(id));
  EXPECT_TRUE(h.hasTombstone(id));
  EXPECT_EQ(h.armedInSeconds(), 1);
  h.advance(1 * kj::SECONDS);
  EXPECT_FALSE(h.hasTombstone(id));
  EXPECT_EQ(h.armedInSeconds(), -1);
}

TEST(Retention, ExpiresRequestIdsAfter24HoursWhateverRetentionSays) {
  RetentionConfig config;  // retention off: no age, no count, tombstones kept
  config.maxAgeUsec = 0;
  config.maxTasks = 0;
  config.tombstoneAgeUsec = 0;
  Harness h(config);
  auto id = h.put(TaskState::SUCCEEDED, h.now());
  h.putRequest("first", id, h.now());
  h.putRequest("second", id, h.now() + int64_t(3600) * 1000000000);
  h.store->commit();
  h.retention->start();
  h.settle();
  EXPECT_EQ(h.armedInSeconds(), 24 * 3600);

  h.advance(23 * kj::HOURS + 59 * kj::MINUTES);
  EXPECT_TRUE(h.hasRequest("first"));
  h.advance(1 * kj::MINUTES);
  EXPECT_FALSE(h.hasRequest("first"));
  EXPECT_TRUE(h.hasRequest("second"));
  h.advance(1 * kj::HOURS);
  EXPECT_FALSE(h.hasRequest("second"));
  EXPECT_EQ(h.retention->stats().requestsExpired, 2u);
  EXPECT_TRUE(h.stored(id));
}

TEST(Retention, SweepsInBatchesAndLetsTheLoopRunBetweenThem) {
  Harness h(countOnly(100));
  for (int i = 0; i < 1000; i++) {
    h.put(TaskState::SUCCEEDED, h.now() - (1000 - i) * int64_t(1000000000));
  }
  h.store->commit();
  uint64_t before = h.store->commitCount();

  h.retention->start();
  // Turn by turn until the first batch is committed.
  for (int turns = 0; h.store->commitCount() == before; turns++) {
    ASSERT_LT(turns, 10000);
    h.loop.run(1);
  }
  EXPECT_EQ(h.store->finishedCount(), 1000u - Retention::BATCH);
  // Something else queued now runs before the sweep is done.
  bool ran = false;
  size_t finishedThen = 0;
  auto other = kj::evalLater([&]() {
                 ran = true;
                 finishedThen = h.store->finishedCount();
               }).eagerlyEvaluate(nullptr);
  h.settle();

  EXPECT_TRUE(ran);
  EXPECT_LT(finishedThen, 1000u);
  EXPECT_GT(finishedThen, 100u);
  EXPECT_EQ(h.store->finishedCount(), 100u);
  EXPECT_GE(h.store->commitCount() - before, 4u);  // 900 prunes, 256 a batch
  EXPECT_EQ(h.retention->stats().pruned, 900u);
}

TEST(Retention, ReconfigureAppliesTheNewLimits) {
  Harness h(countOnly(0));
  kj::Vector<uint64_t> ids;
  for (int i = 0; i < 10; i++) ids.add(h.put(TaskState::SUCCEEDED, h.now() - 10 + i));
  h.store->commit();
  h.retention->start();
  h.settle();
  EXPECT_EQ(h.store->finishedCount(), 10u);

  h.retention->reconfigure(countOnly(3));
  h.settle();
  EXPECT_EQ(h.store->finishedCount(), 3u);
  for (int i = 0; i < 7; i++) EXPECT_FALSE(h.stored(ids[i]));
  for (int i = 7; i < 10; i++) EXPECT_TRUE(h.stored(ids[i]));
}

TEST(Retention, RemovesTheLogsACrashLeftOfPrunedTasksAndNoOtherFile) {
  LogCapture log;
  Harness h(keepAll());
  // Pruned before the crash, their logs not yet removed: one whose tombstone
  // is still there, one whose tombstone has expired since.
  auto tombstoned = h.put(TaskState::SUCCEEDED, h.now());
  auto forgotten = h.put(TaskState::FAILED, h.now(), 2, 1);
  auto finished = h.put(TaskState::SUCCEEDED, h.now());
  auto running = h.put(TaskState::RUNNING, h.now());
  h.store->commit();
  h.prune(tombstoned);
  h.prune(forgotten);
  h.store->commit();
  h.store->deleteTombstone(forgotten);
  h.store->commit();
  ASSERT_TRUE(h.hasLog(tombstoned, 1));
  ASSERT_TRUE(h.hasLog(forgotten, 2));
  kj::StringPtr others[] = {"notes.txt", "1-1.log.1", "x-1.log",  "-1.log",
                            "01-1.log",  "1-0.log",   "1--1.log", "1-1.log~"};
  for (auto name : others) h.touch(name);

  h.retention->start();
  // A task created once the sweep began: its log may exist before its record
  // is committed.
  auto created = h.store->allocateId();
  h.touch(kj::str(created, "-1.log"));
  h.settle();

  EXPECT_FALSE(h.hasLog(tombstoned, 1));
  EXPECT_FALSE(h.hasLog(forgotten, 1));
  EXPECT_FALSE(h.hasLog(forgotten, 2));
  EXPECT_TRUE(h.hasLog(finished, 1));
  EXPECT_TRUE(h.hasLog(running, 1));
  EXPECT_TRUE(h.hasLog(created, 1));
  for (auto name : others) EXPECT_TRUE(h.exists(name)) << name.cStr();
  EXPECT_EQ(h.retention->stats().orphanLogsRemoved, 3u);
  EXPECT_EQ(log.saying("removed the logs of tasks pruned before a crash"), 1u);
  EXPECT_EQ(log.problems, 0u);
}

TEST(Retention, SweepsOrphanedLogsInBatchesAndLetsTheLoopRunBetweenThem) {
  Harness h(keepAll());
  const size_t total = 3 * Retention::BATCH + 10;
  kj::Vector<uint64_t> pruned;
  for (size_t i = 0; i < total; i++) pruned.add(h.put(TaskState::SUCCEEDED, h.now()));
  auto kept = h.put(TaskState::SUCCEEDED, h.now());  // the highest id: all the others are below
  h.store->commit();
  for (auto id : pruned) h.prune(id);
  h.store->commit();

  h.retention->start();
  // Turn by turn until the first batch of logs is gone.
  for (int turns = 0; h.retention->stats().orphanLogsRemoved == 0; turns++) {
    ASSERT_LT(turns, 10000);
    h.loop.run(1);
  }
  EXPECT_LE(h.retention->stats().orphanLogsRemoved, Retention::BATCH);
  // Something else queued now runs before the sweep is done.
  bool ran = false;
  uint64_t removedThen = 0;
  auto other = kj::evalLater([&]() {
                 ran = true;
                 removedThen = h.retention->stats().orphanLogsRemoved;
               }).eagerlyEvaluate(nullptr);
  h.settle();

  EXPECT_TRUE(ran);
  EXPECT_LT(removedThen, total);
  EXPECT_EQ(h.retention->stats().orphanLogsRemoved, total);
  for (auto id : pruned) EXPECT_FALSE(h.hasLog(id, 1)) << id;
  EXPECT_TRUE(h.hasLog(kept, 1));
}

TEST(Retention, AMissingLogsDirectoryIsNoError) {
  LogCapture log;
  Harness h(keepAll(), "logs");
  h.retention->start();
  h.settle();
  EXPECT_EQ(h.retention->stats().orphanLogsRemoved, 0u);
  EXPECT_EQ(log.problems, 0u);
}

}  // namespace
}  // namespace taskctl

namespace taskctl {
namespace {

RetentionConfig logBound(uint64_t bytes) {
  auto config = keepAll();
  config.logBytesPerUser = bytes;
  return config;
}

TEST(Retention, AUsersFinishedLogsStayUnderTheBoundOldestGoingFirst) {
  Harness h(logBound(1000));
  h.retention->start();
  h.settle();
  auto ended = [&](uint32_t uid, uint32_t attempts) {
    auto id = h.put(TaskState::FAILED, h.now(), attempts, 1, uid, 300);
    h.retention->taskFinished(id, h.now());
    h.store->commit();
    h.settle();
    return id;
  };
  auto first = ended(1000, 2);   // 600 bytes
  auto bobs = ended(1001, 3);    // 900 bytes: his own bound
  auto second = ended(1000, 1);  // 900
  EXPECT_EQ(h.retention->logBytesOf(1000), 900u);
  EXPECT_TRUE(h.hasLog(first, 1));
  auto third = ended(1000, 1);  // 1200: the oldest log goes, then 900
  EXPECT_FALSE(h.hasLog(first, 1));
  EXPECT_TRUE(h.hasLog(first, 2));
  EXPECT_TRUE(h.hasLog(second, 1));
  EXPECT_TRUE(h.hasLog(third, 1));
  EXPECT_EQ(h.retention->logBytesOf(1000), 900u);
  EXPECT_EQ(h.retention->logBytesOf(1001), 900u);
  for (uint32_t n = 1; n <= 3; n++) EXPECT_TRUE(h.hasLog(bobs, n));
  EXPECT_TRUE(h.stored(first));  // the record stays
  EXPECT_EQ(h.retention->stats().logsTrimmed, 1u);
}

TEST(Retention, TheStartCountsTheLogsThereAndTrimsThem) {
  Harness h(logBound(500));
  auto old = h.put(TaskState::SUCCEEDED, h.now(), 1, 0, 1000, 400);
  auto newer = h.put(TaskState::SUCCEEDED, h.now(), 1, 0, 1000, 400);
  auto running = h.put(TaskState::RUNNING, h.now(), 1, 0, 1000, 4000);  // not counted until it ends
  h.store->commit();
  h.retention->start();
  h.settle();
  EXPECT_FALSE(h.hasLog(old, 1));
  EXPECT_TRUE(h.hasLog(newer, 1));
  EXPECT_TRUE(h.hasLog(running, 1));
  EXPECT_EQ(h.retention->logBytesOf(1000), 400u);
}

TEST(Retention, WithoutTheBoundNoLogIsCountedOrRemoved) {
  Harness h(keepAll());
  h.retention->start();
  auto id = h.put(TaskState::SUCCEEDED, h.now(), 1, 0, 1000, 1 << 20);
  h.retention->taskFinished(id, h.now());
  h.store->commit();
  h.settle();
  EXPECT_EQ(h.retention->logBytesOf(1000), 0u);
  // Set on a reload: what is there is counted, then trimmed.
  h.put(TaskState::SUCCEEDED, h.now(), 1, 0, 1000, 1 << 20);
  h.store->commit();
  h.retention->reconfigure(logBound(1 << 20));
  h.settle();
  EXPECT_FALSE(h.hasLog(id, 1));
  EXPECT_EQ(h.retention->logBytesOf(1000), uint64_t(1 << 20));
}

}  // namespace
}  // namespace taskctl
