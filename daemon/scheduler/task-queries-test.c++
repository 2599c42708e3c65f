#include "scheduler/task-queries.h"

#include <stdlib.h>

#include <gtest/gtest.h>
#include <kj/debug.h>

#include "fake-runner.h"

namespace taskctl {
namespace {

using records::TaskState;

// One scheduler over a real store in a temp dir, a fake runner and fake
// time, and the queries over both.
struct Harness {
  kj::String dir;
  kj::EventLoop loop;
  kj::WaitScope waitScope{loop};
  kj::TimerImpl timer{kj::origin<kj::TimePoint>()};
  FakeClock clock;
  FakeWallTimer wallTimer{clock};
  FakeRunner runner;
  FakeNotifyHub notify;
  Config config = defaultConfig();
  kj::Own<Store> store;
  kj::Own<GroupCommit> commit;
  kj::Own<EventLog> events;
  kj::Own<Scheduler> scheduler;
  kj::Own<TaskQueries> queries;
  Identity alice{1000, 1000, kj::heapArray<gid_t>({1000})};
  Identity bob{1001, 1001, kj::heapArray<gid_t>({1001})};

  Harness() {
    char tmpl[] = "/tmp/taskctl-task-queries-test.XXXXXX";
    KJ_ASSERT(mkdtemp(tmpl) != nullptr);
    dir = kj::str(tmpl);
    config.queues[0].concurrency = 1;
    store = kj::heap<Store>(kj::str(dir, "/store"));
    commit = kj::heap<GroupCommit>(*store, timer);
    events = kj::heap<EventLog>(*store, *commit, clock, 100000);
    scheduler = kj::heap<Scheduler>(*store, *commit, *events, runner, notify, timer, clock,
                                     wallTimer, config, Scheduler::Options{});
    queries = kj::heap<TaskQueries>(*store, *commit, *scheduler);
    scheduler->start();
  }
  ~Harness() noexcept(false) {
    queries = nullptr;
    scheduler = nullptr;
    events = nullptr;
    commit = nullptr;
    store = nullptr;
    KJ_ASSERT(system(kj::str("rm -rf ", dir).cStr()) == 0);
  }

  uint64_t submit(const Identity& who, kj::StringPtr command,
                  kj::Function<void(spec::TaskSpec::Builder)> more = [](auto) {}) {
    capnp::MallocMessageBuilder message;
    auto request = message.initRoot<spec::TaskSpec>();
    request.initArgv(1).set(0, command.asBytes());
    more(request);
    auto id = scheduler->submit(request, who).wait(waitScope);
    loop.run();
    return id;
  }
};

TEST(TaskQueries, AnotherUsersTaskReadsLikeAMissingOne) {
  Harness h;
  auto id = h.submit(h.alice, "a");
  h.queries->flushed().wait(h.waitScope);
  Viewer alice{1000}, bob{1001}, admin{1001, true};
  KJ_IF_MAYBE(seen, h.queries->task(id, alice)) {
    EXPECT_EQ(seen->task().getId(), id);
    EXPECT_TRUE(seen->attempts() == nullptr);  // not asked for
  } else {
    ADD_FAILURE() << "the owner cannot see its task";
  }
  EXPECT_TRUE(h.queries->task(id, bob) == nullptr);
  EXPECT_TRUE(h.queries->task(id, admin) != nullptr);
  EXPECT_TRUE(h.queries->exists(id, alice));
  EXPECT_FALSE(h.queries->exists(id, bob));
  EXPECT_TRUE(h.queries->exists(id, admin));
  EXPECT_FALSE(h.queries->exists(id + 100, admin));
  EXPECT_TRUE(h.queries->task(id + 100, admin) == nullptr);
}

TEST(TaskQueries, AttemptsCarryTheRunningOnesProgressAsOfNow) {
  Harness h;
  auto id = h.submit(h.alice, "a");
  ASSERT_EQ(h.runner.launched.size(), 1u);
  auto path = kj::str("/fake/notify/", id, "-1");
  ASSERT_TRUE(h.notify.send(path, AttemptNotice{false, kj::str("started"), 0.1}));
  h.loop.run();
  // Within the second: kept in memory only, not written yet.
  ASSERT_TRUE(h.notify.send(path, AttemptNotice{false, kj::str("half"), 0.5}));
  h.queries->flushed().wait(h.waitScope);
  KJ_IF_MAYBE(seen, h.queries->task(id, Viewer{1000}, TaskQueries::Attempts::WITH)) {
    KJ_IF_MAYBE(attempts, seen->attempts()) {
      ASSERT_EQ(attempts->size(), 1u);
      EXPECT_EQ((*attempts)[0].getNumber(), 1u);
      EXPECT_EQ((*attempts)[0].getState(), TaskState::RUNNING);
      EXPECT_EQ((*attempts)[0].getProgress(), 0.5);
      EXPECT_EQ((*attempts)[0].getStatusText(), "half");
    } else {
      ADD_FAILURE() << "no attempts";
    }
  } else {
    ADD_FAILURE() << "no task";
  }
  // The store itself has the attempt as of its last write.
  KJ_IF_MAYBE(stored, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*stored)->get().getStatusText(), "started");
  } else {
    ADD_FAILURE() << "no stored attempt";
  }
}

TEST(TaskQueries, WhatATaskWaitsFor) {
  Harness h;
  auto first = h.submit(h.alice, "a");
  auto second = h.submit(h.alice, "b", [&](spec::TaskSpec::Builder r) {
    r.initAfter(1)[0].setId(first);
  });
  h.queries->flushed().wait(h.waitScope);
  KJ_IF_MAYBE(seen, h.queries->task(second, Viewer{1000})) {
    EXPECT_EQ(seen->task().getState(), TaskState::WAITING);
    EXPECT_EQ(seen->waitingFor(), h.scheduler->waitingFor(seen->task()));
    EXPECT_NE(seen->waitingFor(), "");
  } else {
    ADD_FAILURE() << "no task";
  }
}

TEST(TaskQueries, ATombstoneIsSeenByItsOwnerOnly) {
  Harness h;
  capnp::MallocMessageBuilder message;
  auto t = message.initRoot<records::Task>();
  uint64_t id = h.store->allocateId();
  t.setId(id);
  t.setUid(1000);
  t.setState(TaskState::SUCCEEDED);
  t.setFinishedAt(5);
  h.store->putTask(t);
  h.store->commit();
  capnp::MallocMessageBuilder stone;
  auto tombstone = stone.initRoot<records::Tombstone>();
  tombstone.setId(id);
  tombstone.setUid(1000);
  tombstone.setState(TaskState::SUCCEEDED);
  tombstone.setFinishedAt(5);
  h.store->pruneTask(id, tombstone);
  h.store->commit();
  EXPECT_TRUE(h.queries->task(id, Viewer{1000}) == nullptr);
  EXPECT_TRUE(h.queries->tombstone(id, Viewer{1000}) != nullptr);
  EXPECT_TRUE(h.queries->tombstone(id, Viewer{1001}) == nullptr);
  EXPECT_TRUE(h.queries->tombstone(id, Viewer{1001, true}) != nullptr);
  EXPECT_TRUE(h.queries->exists(id, Viewer{1000}));
  EXPECT_FALSE(h.queries->exists(id, Viewer{1001}));
}

TEST(TaskQueries, TheTasksALabelNames) {
  Harness h;
  auto labelled = [](kj::StringPtr value) {
    return [value](spec::TaskSpec::Builder r) {
      auto l = r.initLabels(1);
      l[0].setKey("schedule");
      l[0].setValue(value);
    };
  };
  auto a = h.submit(h.alice, "a", labelled("nightly"));
  h.submit(h.alice, "b");
  auto c = h.submit(h.bob, "c", labelled("hourly"));
  h.queries->flushed().wait(h.waitScope);
  std::vector<std::tuple<uint32_t, std::string, uint64_t>> seen;
  h.queries->forEachLabelled("schedule", [&](uint32_t uid, kj::StringPtr value, uint64_t id) {
    seen.push_back({uid, value.cStr(), id});
  });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_tuple(1000u, std::string("nightly"), a));
  EXPECT_EQ(seen[1], std::make_tuple(1001u, std::string("hourly"), c));
}

}  // namespace
}  // namespace taskctl
