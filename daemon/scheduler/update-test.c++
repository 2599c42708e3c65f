// `taskctl update` in the scheduler (scheduler-update.c++), the queue's
// maximums (max_timeout, max_memory, max_cpu) at submit, in retry growth and
// for EXTEND_TIMEOUT_USEC=, and the extension kept across a restart. Fake
// time and a fake runner over a real store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <kj/debug.h>

#include <string>

#include "scheduler-harness.h"
#include "scheduler/scheduler.h"
#include "scheduler/task-spec-check.h"

namespace taskctl {
namespace {

using records::EndReason;
using records::TaskState;
using testing::HasSubstr;

AttemptNotice extendBy(uint64_t usec) {
  AttemptNotice n;
  n.extendTimeoutUsec = usec;
  return n;
}

Fill timeout(uint64_t usec) {
  return [usec](spec::TaskSpec::Builder r) { r.initLimits().setTimeoutUsec(usec); };
}

// update() as alice (not exempt) unless said; "" or the refusal's message.
std::string update(SchedulerHarness& h, uint64_t id, Scheduler::LimitUpdate change) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 auto done = h.scheduler->update(id, change);
                 h.settle();
                 KJ_ASSERT(done.poll(h.waitScope), "not ready");
                 done.wait(h.waitScope);
               })) {
    return e->getDescription().cStr();
  }
  return "";
}
Scheduler::LimitUpdate by(uid_t uid, bool exempt = false) {
  Scheduler::LimitUpdate u;
  u.by = uid;
  u.exempt = exempt;
  return u;
}

uint64_t attemptTimeout(SchedulerHarness& h, uint64_t id, uint32_t number) {
  KJ_IF_MAYBE (a, h.store->getAttempt(id, number)) return (*a)->get().getTimeoutUsec();
  ADD_FAILURE() << "no attempt " << number;
  return 0;
}

TEST(Update, ARelativeTimeoutIsReArmedFromTheAttemptsStartAndStored) {
  SchedulerHarness h(1);
  auto id = h.submit(timeout(2000000));
  h.settle();
  h.advance(1 * kj::SECONDS);
  auto u = by(1000);
  u.timeoutUsec = 3000000;
  u.timeoutRelative = true;
  ASSERT_EQ(update(h, id, u), "");
  EXPECT_EQ(h.record(id)->get().getLimits().getTimeoutUsec(), 5000000u);
  EXPECT_EQ(attemptTimeout(h, id, 1), 5000000u);
  EXPECT_EQ(h.record(id)->get().getLimitsUpdatedBy(), 1000u);
  EXPECT_NE(h.record(id)->get().getLimitsUpdatedAt(), 0);
  h.advance(3999 * kj::MILLISECONDS);  // 4.999 s from the start: past the old 2 s
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0) << "the old timeout still fired";
  h.advance(2 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  h.runner.killed(0, SIGTERM);
  h.settle();
  EXPECT_EQ(h.message(id), "timed out after 5s");
  // The change is an event of its own ("updated"), between running and the end.
  std::vector<std::string> actions;
  h.store->forEachEventFrom(1, [&](records::Event::Reader e) {
    if (e.getTaskId() == id) actions.push_back(e.getAction().cStr());
    return true;
  });
  EXPECT_THAT(actions, testing::Contains("updated"));
}

TEST(Update, ATimeoutBelowWhatHasElapsedEndsTheTaskAtOnce) {
  SchedulerHarness h(1);
  auto id = h.submit(timeout(10000000));
  h.settle();
  h.advance(3 * kj::SECONDS);
  auto u = by(1000);
  u.timeoutUsec = 2000000;
  ASSERT_EQ(update(h, id, u), "");
  h.advance(1 * kj::MILLISECONDS);  // the fake timer fires a due wait only when it moves
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
}

TEST(Update, RelativeNeedsATimeoutAndNothingToUpdateIsRefused) {
  SchedulerHarness h(1);
  auto id = h.submit();
  h.settle();
  auto u = by(1000);
  u.timeoutUsec = 1000000;
  u.timeoutRelative = true;
  EXPECT_THAT(update(h, id, u), HasSubstr("has no timeout to add to"));
  EXPECT_THAT(update(h, id, by(1000)), HasSubstr("nothing to update"));
  EXPECT_EQ(h.record(id)->get().getLimitsUpdatedAt(), 0);
}

TEST(Update, MemoryGoesToTheExecutionFirstAndARefusalChangesNothing) {
  SchedulerHarness h(1);
  auto id = h.submit([](spec::TaskSpec::Builder r) { r.initLimits().setMemoryMaxBytes(64 << 20); });
  h.settle();
  auto u = by(1000);
  u.memoryMaxBytes = 256 << 20;
  u.cpuQuotaPerSecUsec = 1500000;
  // systemd says no: nothing is recorded.
  h.runner.failLimits = true;
  EXPECT_THAT(update(h, id, u), HasSubstr("systemd refused"));
  EXPECT_EQ(h.record(id)->get().getLimits().getMemoryMaxBytes(), 64u << 20);
  EXPECT_EQ(h.record(id)->get().getLimitsUpdatedAt(), 0);
  // A runner that cannot (the direct one) is refused before it is asked.
  h.runner.failLimits = false;
  h.runner.setsLimits = false;
  EXPECT_THAT(update(h, id, u), HasSubstr("cannot change a running task's memory"));
  EXPECT_EQ(h.runner.limitCalls.size(), 0u);
  // The scope runner: the execution gets them, then the task and its attempt.
  h.runner.setsLimits = true;
  ASSERT_EQ(update(h, id, u), "");
  ASSERT_EQ(h.runner.limitCalls.size(), 1u);
  EXPECT_EQ(h.runner.limitCalls[0].second.memoryMaxBytes, 256u << 20);
  EXPECT_EQ(h.runner.limitCalls[0].second.cpuQuotaPerSecUsec, 1500000u);
  EXPECT_EQ(h.runner.limitCalls[0].second.tasksMax, 0u);
  EXPECT_EQ(h.record(id)->get().getLimits().getMemoryMaxBytes(), 256u << 20);
  EXPECT_EQ(h.record(id)->get().getLimits().getCpuQuotaPerSecUsec(), 1500000u);
  KJ_IF_MAYBE (a, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*a)->get().getMemoryMaxBytes(), 256u << 20);
  } else {
    ADD_FAILURE() << "no attempt";
  }
  // A timeout alone needs no runner: the daemon's timer is the only one.
  h.runner.setsLimits = false;
  u = by(1000);
  u.timeoutUsec = 60000000;
  EXPECT_EQ(update(h, id, u), "");
}

TEST(Update, ATaskThatHasNotStartedHasItsStoredLimitsChangedAndAnEndedOneIsRefused) {
  SchedulerHarness h(1);
  auto blocker = h.submit();
  auto queued = h.submit(timeout(1000000));
  h.settle();
  auto u = by(1000);
  u.timeoutUsec = 7000000;
  u.memoryMaxBytes = 128 << 20;
  ASSERT_EQ(update(h, queued, u), "");
  EXPECT_EQ(h.runner.limitCalls.size(), 0u);
  EXPECT_EQ(h.state(queued), TaskState::QUEUED);
  h.exit(blocker, 0);
  KJ_IF_MAYBE (a, h.store->getAttempt(queued, 1)) {
    EXPECT_EQ((*a)->get().getTimeoutUsec(), 7000000u);
    EXPECT_EQ((*a)->get().getMemoryMaxBytes(), 128u << 20);
  } else {
    ADD_FAILURE() << "no attempt";
  }
  EXPECT_THAT(update(h, blocker, u), HasSubstr("has ended (succeeded)"));
}

TEST(Update, PastTheQueueMaximumOnlyRootOrTheAdminGroupAndTheOwnerMayLower) {
  SchedulerHarness h(1);
  h.config.queues[0].maxTimeoutUsec = 3600000000;  // 1h
  h.config.queues[0].maxMemoryBytes = 1ull << 30;  // 1G
  h.config.queues[0].maxCpuQuotaPerSecUsec = 2000000;
  h.scheduler->reloadQueues(h.config);  // a reload applies them
  // A submit past one is refused but for an exempt one; none given: the maximum is in force.
  EXPECT_THAT(h.submitError(timeout(7200000000)),
              HasSubstr("timeout 2h is above queue default's max_timeout (1h)"));
  EXPECT_THAT(h.submitError([](auto r) { r.initLimits().setCpuQuotaPerSecUsec(4000000); }),
              HasSubstr("cpu quota 400% is above queue default's max_cpu (200%)"));
  SubmitExtras exempt;
  exempt.exempt = true;
  auto rootTask = h.submit(h.root, timeout(7200000000), exempt);
  EXPECT_EQ(h.record(rootTask)->get().getLimits().getTimeoutUsec(), 7200000000u);
  h.exit(rootTask, 0);
  h.settle();
  auto id = h.submit();
  EXPECT_EQ(h.record(id)->get().getLimits().getTimeoutUsec(), 3600000000u);
  EXPECT_EQ(h.record(id)->get().getLimits().getMemoryMaxBytes(), 1ull << 30);
  h.settle();
  ASSERT_EQ(h.state(id), TaskState::RUNNING);
  auto past = by(1000);
  past.timeoutUsec = 3600000000;
  past.timeoutRelative = true;  // 2h
  EXPECT_THAT(update(h, id, past),
              HasSubstr("timeout 2h is above queue default's max_timeout (1h): only root"));
  past = by(1000);
  past.memoryMaxBytes = 2ull << 30;
  EXPECT_THAT(update(h, id, past), HasSubstr("above queue default's max_memory"));
  EXPECT_EQ(h.record(id)->get().getLimits().getTimeoutUsec(), 3600000000u);
  EXPECT_EQ(h.runner.limitCalls.size(), 0u);
  // Root may; then the owner may lower it, even to a value still above the maximum.
  past = by(0, true);
  past.timeoutUsec = 3 * 3600000000ull;
  ASSERT_EQ(update(h, id, past), "");
  EXPECT_EQ(h.record(id)->get().getLimits().getTimeoutUsec(), 3 * 3600000000ull);
  auto lower = by(1000);
  lower.timeoutUsec = 2 * 3600000000ull;
  EXPECT_EQ(update(h, id, lower), "");
  EXPECT_EQ(h.record(id)->get().getLimits().getTimeoutUsec(), 2 * 3600000000ull);
}

TEST(Update, AnExtensionAndARaisedTimeoutSurviveARestart) {
  SchedulerHarness h(2);
  auto extended = h.submit(timeout(2000000));
  auto raised = h.submit(timeout(2000000));
  h.settle();
  ASSERT_TRUE(h.notify.send(kj::str("/fake/notify/", extended, "-1"), extendBy(4000000)));
  auto u = by(1000);
  u.timeoutUsec = 6000000;
  ASSERT_EQ(update(h, raised, u), "");
  h.advance(1 * kj::SECONDS);
  h.runner.adoptable = std::make_pair(extended, 1u);
  h.restart();
  // (One adoptable at a time in the fake: the other attempt is lost, which is not this test.)
  size_t i = h.indexOf(extended);
  h.advance(2 * kj::SECONDS);  // 3 s from the start: past --timeout 2s
  EXPECT_EQ(h.runner.launched[i].lastSignal, 0) << "the extension was lost over the restart";
  h.advance(1001 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched[i].lastSignal, SIGTERM);
  h.runner.killed(i, SIGTERM);
  h.settle();
  EXPECT_EQ(h.message(extended), "timed out after 4s (--timeout 2s, extended by the task)");
  EXPECT_EQ(attemptTimeout(h, raised, 1), 6000000u);
}

TEST(Update, ARaisedTimeoutSurvivesARestart) {
  SchedulerHarness h(1);
  auto id = h.submit(timeout(2000000));
  h.settle();
  auto u = by(1000);
  u.timeoutUsec = 6000000;
  ASSERT_EQ(update(h, id, u), "");
  h.advance(1 * kj::SECONDS);
  h.runner.adoptable = std::make_pair(id, 1u);
  h.restart();
  size_t i = h.indexOf(id);
  h.advance(4 * kj::SECONDS);  // 5 s from the start
  EXPECT_EQ(h.runner.launched[i].lastSignal, 0) << "the raised timeout was lost over the restart";
  h.advance(1001 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched[i].lastSignal, SIGTERM);
}

TEST(Update, ExtendTimeoutStopsAtTheQueueMaxTimeout) {
  SchedulerHarness h(1);
  h.config.queues[0].maxTimeoutUsec = 10000000;
  h.scheduler->reloadQueues(h.config);
  auto id = h.submit(timeout(2000000));
  h.settle();
  ASSERT_TRUE(h.notify.send(kj::str("/fake/notify/", id, "-1"), extendBy(UINT64_MAX)));
  h.settle();
  h.advance(9999 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  h.advance(2 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
}

TEST(Update, RetryGrowthStopsAtTheQueueMaxMemory) {
  SchedulerHarness h(1);
  h.config.queues[0].maxMemoryBytes = 150 << 20;
  h.scheduler->reloadQueues(h.config);
  auto id = h.submit([](spec::TaskSpec::Builder r) {
    r.initLimits().setMemoryMaxBytes(100 << 20);
    auto p = r.initRetry();
    p.setRetries(2);
    p.setOnOom(true);
    p.setMemoryGrowFactor(4);
  });
  h.settle();
  h.runner.killed(h.indexOf(id), SIGKILL, 1);
  h.settle();
  ASSERT_EQ(h.state(id), TaskState::RETRYING);
  EXPECT_EQ(h.record(id)->get().getLimits().getMemoryMaxBytes(), 150u << 20);
}

}  // namespace
}  // namespace taskctl
