#include "scheduler/task-queries.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <stdlib.h>

#include "scheduler-harness.h"

namespace taskctl {
namespace {

// A notice with a status text and a progress, as `taskctl progress` sends.
AttemptNotice notice(kj::String status, double progress) {
  AttemptNotice n;
  n.status = kj::mv(status);
  n.progress = progress;
  return n;
}

using records::TaskState;

// The shared harness, its queue "default" one at a time, and the queries over
// its store and scheduler.
struct Harness : SchedulerHarness {
  Harness() : SchedulerHarness(1) {}
  kj::Own<TaskQueries> queries = kj::heap<TaskQueries>(*store, *commit, *scheduler);
};

TEST(TaskQueries, AnotherUsersTaskReadsLikeAMissingOne) {
  Harness h;
  auto id = h.submit(h.alice);
  h.settle();
  h.queries->flushed().wait(h.waitScope);
  Viewer alice{1000}, bob{1001}, admin{1001, true};
  KJ_IF_MAYBE (seen, h.queries->task(id, alice)) {
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
  auto id = h.submit(h.alice);
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 1u);
  auto path = kj::str("/fake/notify/", id, "-1");
  ASSERT_TRUE(h.notify.send(path, notice(kj::str("started"), 0.1)));
  h.loop.run();
  // Within the second: kept in memory only, not written yet.
  ASSERT_TRUE(h.notify.send(path, notice(kj::str("half"), 0.5)));
  h.queries->flushed().wait(h.waitScope);
  KJ_IF_MAYBE (seen, h.queries->task(id, Viewer{1000}, TaskQueries::Attempts::WITH)) {
    KJ_IF_MAYBE (attempts, seen->attempts()) {
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
  KJ_IF_MAYBE (stored, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*stored)->get().getStatusText(), "started");
  } else {
    ADD_FAILURE() << "no stored attempt";
  }
}

TEST(TaskQueries, WhatATaskWaitsFor) {
  Harness h;
  auto first = h.submit(h.alice);
  h.settle();
  auto second =
      h.submit(h.alice, [&](spec::TaskSpec::Builder r) { r.initAfter(1)[0].setId(first); });
  h.settle();
  h.queries->flushed().wait(h.waitScope);
  KJ_IF_MAYBE (seen, h.queries->task(second, Viewer{1000})) {
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
  auto a = h.submit(h.alice, labelled("nightly"));
  h.settle();
  h.submit(h.alice);
  h.settle();
  auto c = h.submit(h.bob, labelled("hourly"));
  h.settle();
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
