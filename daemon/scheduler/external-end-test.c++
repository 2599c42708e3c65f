// What the scheduler makes of an end the runner's own system decides (a Slurm
// queue's job: OUT_OF_MEMORY, TIMEOUT, NODE_FAIL, PREEMPTED, a cancel that was
// not taskctl's; runner.h, ExternalEnd), over the fake runner. The real
// cluster's cases are in tests/shared-scenarios/slurm-queue.sh.
#include <gtest/gtest.h>
#include <signal.h>

#include "scheduler-harness.h"

namespace taskctl {
namespace {

using records::EndReason;
using records::TaskState;

void endsWith(SchedulerHarness& h, uint64_t id, ExternalEnd::Kind kind, kj::StringPtr message,
              int code = 0, int signal = 0) {
  size_t index = h.indexOf(id);
  h.runner.externalEnds.emplace(index, ExternalEnd{kind, kj::str(message)});
  auto r = h.runner.result(id, h.runner.launched[index].attempt);
  r.setExitCode(code);
  r.setSignal(signal);
  h.runner.launched[index].exit->fulfill();
  h.settle();
}

TEST(ExternalEnd, TheJobIdIsStoredWithTheRunningAttempt) {
  SchedulerHarness h(1);
  h.runner.jobIds[0] = 4242;  // the first launch reports its job
  auto id = h.submit();
  h.settle();
  auto attempt = KJ_ASSERT_NONNULL(h.store->getAttempt(id, 1));
  EXPECT_EQ(attempt->get().getSlurmJobId(), 4242u);
  h.exit(id, 0);
}

TEST(ExternalEnd, OutOfMemoryIsOom) {
  SchedulerHarness h(1);
  auto id = h.submit();
  h.settle();
  endsWith(h, id, ExternalEnd::Kind::OOM, "Slurm job 7 ended OUT_OF_MEMORY on n1", -1, SIGKILL);
  auto task = h.record(id);
  EXPECT_EQ(task->get().getState(), TaskState::FAILED);
  EXPECT_EQ(task->get().getReason(), EndReason::OOM);
}

TEST(ExternalEnd, SlurmsTimeLimitIsTimeoutAndANodeFailureIsLost) {
  SchedulerHarness h(2);
  auto a = h.submit();
  auto b = h.submit();
  h.settle();
  endsWith(h, a, ExternalEnd::Kind::TIMEOUT, "Slurm job 1 ended TIMEOUT", -1, SIGTERM);
  endsWith(h, b, ExternalEnd::Kind::LOST, "Slurm job 2 ended NODE_FAIL on n2");
  EXPECT_EQ(h.record(a)->get().getReason(), EndReason::TIMEOUT);
  EXPECT_EQ(kj::StringPtr(h.record(a)->get().getMessage()), "Slurm job 1 ended TIMEOUT");
  EXPECT_EQ(h.record(b)->get().getReason(), EndReason::LOST);
  EXPECT_EQ(kj::StringPtr(h.record(b)->get().getMessage()), "Slurm job 2 ended NODE_FAIL on n2");
  EXPECT_EQ(h.runner.stopped.size(), 1u) << "a lost job's remains are stopped";
}

TEST(ExternalEnd, ACancelElsewhereFailsWithSlurmsWordsButOursIsOurs) {
  SchedulerHarness h(2);
  auto a = h.submit();
  auto b = h.submit();
  h.settle();
  endsWith(h, a, ExternalEnd::Kind::CANCELLED_ELSEWHERE, "cancelled in Slurm, not by taskctl", -1,
           SIGTERM);
  EXPECT_EQ(h.record(a)->get().getState(), TaskState::FAILED);
  EXPECT_EQ(h.record(a)->get().getReason(), EndReason::SIGNAL);
  EXPECT_EQ(h.record(a)->get().getSignal(), SIGTERM);
  // A cancel of taskctl's: the job's CANCELLED is ours, whatever the runner says.
  h.scheduler->cancel(b).wait(h.waitScope);
  h.settle();
  endsWith(h, b, ExternalEnd::Kind::CANCELLED_ELSEWHERE, "cancelled in Slurm", -1, SIGTERM);
  EXPECT_EQ(h.record(b)->get().getState(), TaskState::CANCELLED);
}

TEST(ExternalEnd, APreemptedAttemptRunsAgainWithoutSpendingARetry) {
  SchedulerHarness h(1);
  auto id = h.submit([](spec::TaskSpec::Builder t) { t.initRetry().setRetries(0); });
  h.settle();
  endsWith(h, id, ExternalEnd::Kind::PREEMPTED, "Slurm job 3 ended PREEMPTED");
  // Run again at once, as attempt 2, though --retries is 0.
  ASSERT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(h.runner.launched[1].attempt, 2u);
  auto first = KJ_ASSERT_NONNULL(h.store->getAttempt(id, 1));
  EXPECT_EQ(first->get().getReason(), EndReason::PREEMPTED);
  EXPECT_EQ(h.record(id)->get().getUncountedAttempts(), 1u);
  // A failure of the second attempt is not retried: the one retry-free attempt was the
  // preempted one, and retries are 0.
  h.exit(id, 3);
  EXPECT_EQ(h.state(id), TaskState::FAILED);
  EXPECT_EQ(h.runner.launched.size(), 2u);
}

TEST(ExternalEnd, PreemptionsDoNotUseUpRetries) {
  SchedulerHarness h(1);
  auto id = h.submit([](spec::TaskSpec::Builder t) {
    auto retry = t.initRetry();
    retry.setRetries(1);
    retry.setOnExit(true);
  });
  h.settle();
  endsWith(h, id, ExternalEnd::Kind::PREEMPTED, "preempted");
  endsWith(h, id, ExternalEnd::Kind::PREEMPTED, "preempted");
  h.exit(id, 3);  // attempt 3 fails: its one retry is still there
  h.timer.advanceTo(h.timer.now() + 20 * kj::MINUTES);
  h.clock.time = h.clock.time + 20 * kj::MINUTES;
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 4u);
  h.exit(id, 0);
  EXPECT_EQ(h.state(id), TaskState::SUCCEEDED);
}

TEST(ExternalEnd, ASlurmJobsTimeoutCountsFromWhenItRunsNotWhileItPends) {
  SchedulerHarness h(1);
  h.runner.jobIds[0] = 77;
  auto id = h.submit([](spec::TaskSpec::Builder t) { t.initLimits().setTimeoutUsec(3000000); });
  h.settle();
  ASSERT_TRUE(h.runner.launched[0].went);
  // Pending in Slurm for a minute: no timeout yet.
  h.timer.advanceTo(h.timer.now() + 60 * kj::SECONDS);
  h.clock.time = h.clock.time + 60 * kj::SECONDS;
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  // It runs on n1: three seconds from now it is stopped.
  KJ_ASSERT(h.runner.nodes.count(0));
  h.runner.nodes[0]->fulfill(kj::str("n1"));
  h.settle();
  h.timer.advanceTo(h.timer.now() + 2 * kj::SECONDS);
  h.clock.time = h.clock.time + 2 * kj::SECONDS;
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  h.timer.advanceTo(h.timer.now() + 2 * kj::SECONDS);
  h.clock.time = h.clock.time + 2 * kj::SECONDS;
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  // Its job was stopped before its shim wrote a result: timeout, not lost.
  h.runner.vanish(0);
  h.settle();
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::TIMEOUT);
  EXPECT_EQ(kj::StringPtr(KJ_ASSERT_NONNULL(h.store->getAttempt(id, 1))->get().getSlurmNode()),
            "n1");
}

}  // namespace
}  // namespace taskctl
