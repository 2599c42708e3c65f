// `pause` and `resume` in the scheduler (scheduler-pause.c++), with the fake
// runner: the clocks stop while paused, a restart keeps a task paused, a
// paused task can be cancelled, and a refusal changes nothing.
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <signal.h>

#include "scheduler-harness.h"
#include "scheduler/scheduler.h"

namespace taskctl {
namespace {

using records::EndReason;
using records::TaskState;

void pause(SchedulerHarness& h, uint64_t id, bool paused) {
  uint64_t ids[] = {id};
  h.scheduler->pause(ids, paused).wait(h.waitScope);
  h.settle();
}

std::string pauseError(SchedulerHarness& h, kj::ArrayPtr<const uint64_t> ids, bool paused) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                      [&]() { h.scheduler->pause(ids, paused).wait(h.waitScope); })) {
    return e->getDescription().cStr();
  }
  return "";
}

TEST(Pause, TheTimeoutCountsOnlyRunningTime) {
  SchedulerHarness h(1);
  auto id = h.submit([](auto r) { r.getLimits().setTimeoutUsec(2000000); });
  h.settle();
  h.advance(1 * kj::SECONDS);
  h.settle();
  pause(h, id, true);
  EXPECT_EQ(h.state(id), TaskState::PAUSED);
  EXPECT_TRUE(h.runner.launched[0].paused);
  // Paused far past its timeout: nothing is sent.
  h.advance(10 * kj::SECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  pause(h, id, false);
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
  EXPECT_FALSE(h.runner.launched[0].paused);
  KJ_IF_MAYBE (attempt, h.scheduler->liveAttempt(id)) {
    EXPECT_EQ(attempt->getPausedUsec(), 10000000u);
    EXPECT_EQ(attempt->getPausedAt(), 0);
  } else {
    FAIL();
  }
  // 1 s of running time was left.
  h.advance(999 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  h.advance(2 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
}

TEST(Pause, TheHeartbeatClockStopsToo) {
  SchedulerHarness h(1);
  auto id = h.submit([](auto r) { r.getLimits().setHeartbeatUsec(2000000); });
  h.settle();
  h.advance(1500 * kj::MILLISECONDS);
  pause(h, id, true);
  h.advance(10 * kj::SECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  pause(h, id, false);
  // A fresh heartbeat period from the resume.
  h.advance(1900 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  h.advance(200 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
}

TEST(Pause, ARestartKeepsItPausedAndItsClockStopped) {
  SchedulerHarness h(1);
  auto id = h.submit([](auto r) { r.getLimits().setTimeoutUsec(2000000); });
  h.settle();
  h.advance(1 * kj::SECONDS);
  pause(h, id, true);
  h.advance(5 * kj::SECONDS);
  h.runner.adoptable = std::make_pair(id, uint32_t(1));
  h.restart();
  EXPECT_EQ(h.state(id), TaskState::PAUSED);
  ASSERT_EQ(h.runner.launched.size(), 2u);  // 1 launched, 1 adopted
  // Frozen again (the old daemon may have died before it froze it), never thawed.
  EXPECT_TRUE(h.runner.launched[1].paused);
  EXPECT_EQ(h.runner.launched[1].pauseCalls, 1);
  h.advance(10 * kj::SECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[1].lastSignal, 0);
  pause(h, id, false);
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
  EXPECT_FALSE(h.runner.launched[1].paused);
  // The 15 s paused over the restart do not count: 1 s was left.
  h.advance(990 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[1].lastSignal, 0);
  h.advance(20 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[1].lastSignal, SIGTERM);
}

TEST(Pause, APausedTaskCanBeCancelledThawedFirst) {
  SchedulerHarness h(1);
  auto id = h.submit();
  h.settle();
  pause(h, id, true);
  h.scheduler->cancel(id).wait(h.waitScope);
  h.settle();
  // Thawed, then TERM: a stopped process would not get it until continued.
  EXPECT_FALSE(h.runner.launched[0].paused);
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  h.runner.killed(0, SIGTERM);
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::CANCELLED);
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::CANCELLED);
}

TEST(Pause, OnlyRunningTasksAllOrNothingAndEachChangeIsAnEvent) {
  SchedulerHarness h(1);
  auto running = h.submit();
  auto queued = h.submit();
  h.settle();
  uint64_t both[] = {running, queued};
  EXPECT_NE(pauseError(h, both, true).find("is queued: only a running task can be paused"),
            std::string::npos);
  EXPECT_EQ(h.state(running), TaskState::RUNNING);
  EXPECT_EQ(h.runner.launched[0].pauseCalls, 0);
  pause(h, running, true);
  pause(h, running, true);  // already paused: nothing changes
  EXPECT_EQ(h.runner.launched[0].pauseCalls, 1);
  pause(h, running, false);
  uint64_t ended[] = {running};
  h.exit(running, 0);
  EXPECT_NE(pauseError(h, ended, false).find("has ended (succeeded)"), std::string::npos);
  bool paused = false, resumed = false;
  h.events->forEachStored(1, [&](records::Event::Reader ev) {
    if (ev.getTaskId() != running) return true;
    if (ev.getTo() == TaskState::PAUSED && ev.getAction() == "paused") paused = true;
    if (ev.getFrom() == TaskState::PAUSED && ev.getAction() == "resumed") resumed = true;
    return true;
  });
  EXPECT_TRUE(paused);
  EXPECT_TRUE(resumed);
}

TEST(Pause, AFreezeTheRunnerRefusesLeavesItRunning) {
  SchedulerHarness h(1);
  auto id = h.submit([](auto r) { r.getLimits().setTimeoutUsec(2000000); });
  h.settle();
  h.runner.failPauses = true;
  uint64_t ids[] = {id};
  EXPECT_NE(pauseError(h, ids, true).find("could not be paused"), std::string::npos);
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
  h.advance(2001 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);  // its clock runs again
}

TEST(Pause, AThawTheRunnerRefusesLeavesItPaused) {
  SchedulerHarness h(1);
  auto id = h.submit([](auto r) { r.getLimits().setTimeoutUsec(2000000); });
  h.settle();
  pause(h, id, true);
  h.runner.failPauses = true;
  uint64_t ids[] = {id};
  EXPECT_NE(pauseError(h, ids, false).find("could not be resumed"), std::string::npos);
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::PAUSED);
  h.advance(10 * kj::SECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);  // its clock is stopped again
  h.runner.failPauses = false;
  pause(h, id, false);
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
}

}  // namespace
}  // namespace taskctl
