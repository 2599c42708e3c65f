// The scheduling rules of DESIGN 6: dependencies, delays, retries, unique
// keys, request ids, queue settings at run time and priorities. Everything
// runs on fake time against a real store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <stdlib.h>

#include <ostream>
#include <string>

#include "scheduler-harness.h"
#include "scheduler/backoff.h"
#include "scheduler/scheduler.h"

namespace taskctl {
namespace records {
// Readable failures: names, not "2-byte object <06-00>".
void PrintTo(TaskState state, std::ostream* os) { *os << stateName(state).cStr(); }
void PrintTo(EndReason reason, std::ostream* os) {
  *os << "reason \"" << reasonName(reason).cStr() << '"';
}
}  // namespace records

namespace {

using records::EndReason;
using records::TaskState;
using spec::DependencyCondition;
using spec::KeyConflict;
using testing::EndsWith;
using testing::HasSubstr;
using testing::StartsWith;

Fill after(std::initializer_list<std::pair<uint64_t, DependencyCondition>> deps) {
  std::vector<std::pair<uint64_t, DependencyCondition>> copy(deps);
  return [copy = kj::mv(copy)](spec::TaskSpec::Builder r) {
    auto list = r.initAfter(copy.size());
    for (size_t i = 0; i < copy.size(); i++) {
      list[i].setId(copy[i].first);
      list[i].setCondition(copy[i].second);
    }
  };
}
Fill afterOk(uint64_t id) { return after({{id, DependencyCondition::OK}}); }

Fill withKey(kj::StringPtr key, KeyConflict onConflict = KeyConflict::QUEUE) {
  return [key = kj::str(key), onConflict](spec::TaskSpec::Builder r) {
    r.setKey(key);
    r.setOnConflict(onConflict);
  };
}

Fill withRequestId(kj::StringPtr requestId) {
  return [requestId = kj::str(requestId)](spec::TaskSpec::Builder r) { r.setRequestId(requestId); };
}

// ---- Dependencies ----

TEST(Scheduling, ADependentWaitsWhileItsDependencyRunsThenRunsAfterItSucceeds) {
  SchedulerHarness h;
  auto first = h.submit();
  h.settle();
  auto second = h.submit(afterOk(first));
  h.settle();
  EXPECT_EQ(h.state(second), TaskState::WAITING);
  EXPECT_EQ(h.launchedIds(), std::vector<uint64_t>{first});
  EXPECT_EQ(h.scheduler->counts().waiting, 1u);
  h.exit(first, 0);
  EXPECT_EQ(h.launchedIds(), (std::vector<uint64_t>{first, second}));
  EXPECT_EQ(h.state(second), TaskState::RUNNING);
}

TEST(Scheduling, AnOkDependentOfAFailedTaskIsCancelledForItsDependency) {
  SchedulerHarness h;
  auto first = h.submit();
  h.settle();
  auto second = h.submit(afterOk(first));
  h.settle();
  h.exit(first, 1);
  EXPECT_EQ(h.state(second), TaskState::CANCELLED);
  EXPECT_EQ(h.record(second)->get().getReason(), EndReason::DEPENDENCY);
  EXPECT_THAT(h.message(second),
              StartsWith(kj::str("dependency failed: ", first, " failed").cStr()));
  EXPECT_FALSE(h.launched(second));
}

TEST(Scheduling, AFailedOnlyDependentRunsWhenItsDependencyFailed) {
  SchedulerHarness h;
  auto first = h.submit();
  h.settle();
  auto second = h.submit(after({{first, DependencyCondition::FAILED}}));
  h.settle();
  EXPECT_FALSE(h.launched(second));
  h.exit(first, 3);
  EXPECT_TRUE(h.launched(second));
}

TEST(Scheduling, AFailedOnlyDependentRunsWhenItsDependencyWasCancelled) {
  SchedulerHarness h;
  auto first = h.submit();
  h.settle();
  auto second = h.submit(after({{first, DependencyCondition::FAILED}}));
  h.settle();
  h.await(h.scheduler->cancel(first));
  h.runner.killed(h.indexOf(first), SIGTERM);
  h.settle();
  ASSERT_EQ(h.state(first), TaskState::CANCELLED);
  EXPECT_TRUE(h.launched(second));
}

TEST(Scheduling, AFailedOnlyDependentIsCancelledWhenItsDependencySucceeded) {
  SchedulerHarness h;
  auto first = h.submit();
  h.settle();
  auto second = h.submit(after({{first, DependencyCondition::FAILED}}));
  h.settle();
  h.exit(first, 0);
  EXPECT_FALSE(h.launched(second));
  EXPECT_EQ(h.state(second), TaskState::CANCELLED);
  EXPECT_EQ(h.record(second)->get().getReason(), EndReason::DEPENDENCY);
  EXPECT_THAT(h.message(second),
              StartsWith(kj::str("dependency failed: ", first, " succeeded").cStr()));
}

TEST(Scheduling, AnAnyDependentRunsHoweverItsDependencyEnded) {
  SchedulerHarness h;
  auto ok = h.submit();
  auto bad = h.submit();
  h.settle();
  auto afterOkOne = h.submit(after({{ok, DependencyCondition::ANY}}));
  auto afterBadOne = h.submit(after({{bad, DependencyCondition::ANY}}));
  h.settle();
  EXPECT_FALSE(h.launched(afterOkOne));
  EXPECT_FALSE(h.launched(afterBadOne));
  h.exit(ok, 0);
  h.exit(bad, 2);
  EXPECT_TRUE(h.launched(afterOkOne));
  EXPECT_TRUE(h.launched(afterBadOne));
}

TEST(Scheduling, WithSeveralDependenciesAllMustHold) {
  SchedulerHarness h;
  auto a = h.submit();
  auto b = h.submit();
  auto c = h.submit();
  h.settle();
  auto all = h.submit(after({{a, DependencyCondition::OK},
                             {b, DependencyCondition::ANY},
                             {c, DependencyCondition::FAILED}}));
  h.settle();
  h.exit(a, 0);
  EXPECT_EQ(h.state(all), TaskState::WAITING);
  h.exit(b, 1);
  EXPECT_EQ(h.state(all), TaskState::WAITING);
  EXPECT_FALSE(h.launched(all));
  h.exit(c, 1);
  EXPECT_TRUE(h.launched(all));
}

TEST(Scheduling, WithSeveralDependenciesOneThatFailsCancelsTheDependent) {
  SchedulerHarness h;
  auto a = h.submit();
  auto b = h.submit();
  h.settle();
  auto never = h.submit(after({{a, DependencyCondition::OK}, {b, DependencyCondition::OK}}));
  h.settle();
  h.exit(a, 1);
  EXPECT_EQ(h.state(never), TaskState::CANCELLED);
  EXPECT_THAT(h.message(never), StartsWith(kj::str("dependency failed: ", a, " failed").cStr()));
  h.exit(b, 0);
  EXPECT_FALSE(h.launched(never));
  EXPECT_EQ(h.state(never), TaskState::CANCELLED);
}

// Found as a bug (fixed in f51d44a): advance() returned at the first
// PENDING verdict, so a dependency that could no longer hold decided only
// once every earlier-listed one had ended; whoever waited for the dependent
// (taskctl wait, its own dependents) waited for nothing.
TEST(Scheduling, WithSeveralDependenciesAFailedLaterOneDecidesWhileAnEarlierOneRuns) {
  SchedulerHarness h;
  auto a = h.submit();
  auto b = h.submit();
  h.settle();
  auto never = h.submit(after({{a, DependencyCondition::OK}, {b, DependencyCondition::OK}}));
  h.settle();
  h.exit(b, 1);
  EXPECT_EQ(h.state(never), TaskState::CANCELLED);
  EXPECT_THAT(h.message(never), StartsWith(kj::str("dependency failed: ", b, " failed").cStr()));
  h.exit(a, 0);
  EXPECT_FALSE(h.launched(never));
}

TEST(Scheduling, AChainOfAHundredRunsInOrderOneAtATime) {
  SchedulerHarness h(4);
  std::vector<uint64_t> chain;
  chain.push_back(h.submit());
  for (int i = 1; i < 100; i++) chain.push_back(h.submit(afterOk(chain.back())));
  h.settle();
  for (size_t i = 0; i < chain.size(); i++) {
    ASSERT_EQ(h.runner.launched.size(), i + 1) << "link " << i;
    ASSERT_EQ(h.runner.launched[i].taskId, chain[i]) << "link " << i;
    ASSERT_EQ(h.scheduler->counts().running, 1u) << "link " << i;
    ASSERT_EQ(h.scheduler->counts().waiting, chain.size() - i - 1) << "link " << i;
    h.runner.exit(i, 0);
    h.settle();
  }
  EXPECT_EQ(h.runner.launched.size(), 100u);
  for (auto id : chain) EXPECT_EQ(h.state(id), TaskState::SUCCEEDED);
}

TEST(Scheduling, AFailureAtTheHeadOfAChainOfAHundredCancelsAllItsDependents) {
  SchedulerHarness h(4);
  std::vector<uint64_t> chain;
  chain.push_back(h.submit());
  for (int i = 1; i < 100; i++) chain.push_back(h.submit(afterOk(chain.back())));
  h.settle();
  h.exit(chain[0], 1);
  EXPECT_EQ(h.runner.launched.size(), 1u);
  EXPECT_EQ(h.state(chain[0]), TaskState::FAILED);
  for (size_t i = 1; i < chain.size(); i++) {
    auto record = h.record(chain[i]);
    EXPECT_EQ(record->get().getState(), TaskState::CANCELLED) << "link " << i;
    EXPECT_EQ(record->get().getReason(), EndReason::DEPENDENCY) << "link " << i;
    EXPECT_EQ(
        std::string(record->get().getMessage().cStr()),
        kj::str("dependency failed: ", chain[i - 1], i == 1 ? " failed" : " cancelled").cStr());
  }
  EXPECT_EQ(h.scheduler->counts().waiting, 0u);
}

TEST(Scheduling, ADependencyOnAnUnknownTaskIsRefusedAndStoresNothing) {
  SchedulerHarness h;
  auto mine = h.submit();
  h.settle();
  size_t before = h.taskCount();
  EXPECT_EQ(h.submitError(h.alice, afterOk(mine + 100)),
            kj::str("no such task: ", mine + 100, " (in --after)").cStr());
  EXPECT_EQ(h.taskCount(), before);
  // One unknown among known ones is enough.
  EXPECT_NE(h.submitError(h.alice, after({{mine, DependencyCondition::OK},
                                          {mine + 7, DependencyCondition::ANY}})),
            "");
  EXPECT_EQ(h.taskCount(), before);
  EXPECT_EQ(h.runner.launched.size(), 1u);
}

TEST(Scheduling, ADependencyOnAnotherUsersTaskReadsAsUnknown) {
  SchedulerHarness h;
  auto bobs = h.submit(h.bob);
  h.settle();
  size_t before = h.taskCount();
  // The same words as for a task that does not exist: nothing leaks.
  EXPECT_EQ(h.submitError(h.alice, afterOk(bobs)),
            kj::str("no such task: ", bobs, " (in --after)").cStr());
  EXPECT_EQ(h.taskCount(), before);
  // Also once it ended (read from the store, not from memory).
  h.exit(bobs, 0);
  EXPECT_EQ(h.submitError(h.alice, afterOk(bobs)),
            kj::str("no such task: ", bobs, " (in --after)").cStr());
  EXPECT_EQ(h.taskCount(), before);
}

TEST(Scheduling, SomeoneWhoSeesAllMayDependOnAnotherUsersTask) {
  SchedulerHarness h;
  auto bobs = h.submit(h.bob);
  h.settle();
  auto roots = h.submit(h.alice, afterOk(bobs), SubmitExtras{true});
  h.settle();
  EXPECT_EQ(h.state(roots), TaskState::WAITING);
  h.exit(bobs, 0);
  EXPECT_TRUE(h.launched(roots));
}

TEST(Scheduling, ADependencyAlreadyEndedAtSubmitIsDecidedAtOnce) {
  SchedulerHarness h;
  auto good = h.submit();
  auto bad = h.submit();
  h.settle();
  h.exit(good, 0);
  h.exit(bad, 1);
  auto runs = h.submit(afterOk(good));
  auto cancelled = h.submit(afterOk(bad));
  h.settle();
  EXPECT_TRUE(h.launched(runs));
  EXPECT_EQ(h.state(runs), TaskState::RUNNING);
  EXPECT_EQ(h.state(cancelled), TaskState::CANCELLED);
  EXPECT_EQ(h.record(cancelled)->get().getReason(), EndReason::DEPENDENCY);
  EXPECT_FALSE(h.launched(cancelled));
}

TEST(Scheduling, WaitingDependentsSurviveARestart) {
  SchedulerHarness h;
  auto first = h.submit();
  h.settle();
  auto okOne = h.submit(afterOk(first));
  auto failedOne = h.submit(after({{first, DependencyCondition::FAILED}}));
  h.settle();
  h.runner.adoptable = std::make_pair(first, uint32_t(1));
  h.restart();
  EXPECT_EQ(h.state(first), TaskState::RUNNING);
  EXPECT_EQ(h.state(okOne), TaskState::WAITING);
  EXPECT_EQ(h.state(failedOne), TaskState::WAITING);
  EXPECT_EQ(h.runner.launched.size(), 2u);  // launched, then adopted
  h.exit(first, 0);
  EXPECT_TRUE(h.launched(okOne));
  EXPECT_EQ(h.state(okOne), TaskState::RUNNING);
  EXPECT_EQ(h.state(failedOne), TaskState::CANCELLED);
}

// Found as a bug (fixed in f51d44a): reconcile() ended the dependency
// (staged, not yet committed) and admit() registered dependents only for
// active dependencies, while verdictOn() read the committed, still running
// record: nothing ever woke the dependent, which stayed waiting for ever.
TEST(Scheduling, ADependentRunsWhenItsDependencyEndedWhileTheDaemonWasDown) {
  SchedulerHarness h;
  auto first = h.submit();
  h.settle();
  auto second = h.submit(afterOk(first));
  h.settle();
  h.runner.result(first, 1).setExitCode(0);  // the shim finished while we were down
  h.restart();
  EXPECT_EQ(h.state(first), TaskState::SUCCEEDED);
  EXPECT_TRUE(h.launched(second));
  EXPECT_EQ(h.state(second), TaskState::RUNNING);
}

// ---- Delays ----

TEST(Scheduling, ADelayedTaskStartsWhenItsDelayHasElapsed) {
  SchedulerHarness h;
  auto id = h.submit([](auto r) { r.setDelayUsec(2000000); });
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::WAITING);
  h.advance(1999 * kj::MILLISECONDS);
  EXPECT_FALSE(h.launched(id));
  h.advance(1 * kj::MILLISECONDS);
  EXPECT_TRUE(h.launched(id));
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
}

TEST(Scheduling, ADelayKeepsItsDeadlineAcrossARestart) {
  SchedulerHarness h;
  auto id = h.submit([](auto r) { r.setDelayUsec(2000000); });
  h.settle();
  h.advance(1 * kj::SECONDS);
  h.restart();
  EXPECT_EQ(h.state(id), TaskState::WAITING);
  h.advance(999 * kj::MILLISECONDS);
  EXPECT_FALSE(h.launched(id));
  h.advance(1 * kj::MILLISECONDS);
  EXPECT_TRUE(h.launched(id));
}

// `--in` follows elapsed time (records.capnp: notBeforeWall = false). Found
// as a bug (fixed in f51d44a): once the monotonic deadline fired, advance()
// compared notBefore with the realtime clock again, so a clock stepped back
// by an hour turned a 2 s delay (or a retry's backoff) into an hour.
TEST(Scheduling, ADelayFollowsElapsedTimeWhenTheWallClockIsSteppedBack) {
  SchedulerHarness h;
  auto id = h.submit([](auto r) { r.setDelayUsec(2000000); });
  h.settle();
  h.stepClock(-1 * kj::HOURS);
  h.advance(2 * kj::SECONDS);
  EXPECT_TRUE(h.launched(id));
}

TEST(Scheduling, ABackoffFollowsElapsedTimeWhenTheWallClockIsSteppedBack) {
  SchedulerHarness h;
  auto id = h.submit([](auto r) {
    auto policy = r.initRetry();
    policy.setRetries(1);
    policy.setOnExit(true);
    policy.setBackoffBaseUsec(10000000);  // up to 10 s
  });
  h.settle();
  int64_t endedAt = h.nowNs();
  h.exit(id, 1);
  ASSERT_EQ(h.state(id), TaskState::RETRYING);
  int64_t wait = h.record(id)->get().getNextAttemptAt() - endedAt;
  h.stepClock(-1 * kj::HOURS);
  h.advance(wait * kj::NANOSECONDS);
  ASSERT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(h.runner.launched[1].attempt, 2u);
}

TEST(Scheduling, ADelayIsUnmovedByAWallClockSteppedForward) {
  SchedulerHarness h;
  auto id = h.submit([](auto r) { r.setDelayUsec(2000000); });
  h.settle();
  h.stepClock(1 * kj::HOURS);
  EXPECT_FALSE(h.launched(id));
  h.advance(2 * kj::SECONDS);
  EXPECT_TRUE(h.launched(id));
}

TEST(Scheduling, AnAtTaskWaitsForTheWallClock) {
  SchedulerHarness h;
  int64_t at = h.nowNs() + 60ll * 1000000000;
  auto id = h.submit([at](auto r) { r.setNotBefore(at); });
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::WAITING);
  EXPECT_TRUE(h.record(id)->get().getNotBeforeWall());
  EXPECT_EQ(h.wallArmedNs(), at);
  h.advance(59 * kj::SECONDS);
  EXPECT_FALSE(h.launched(id));
  h.advance(1 * kj::SECONDS);
  EXPECT_TRUE(h.launched(id));
}

TEST(Scheduling, AnAtTaskStartsWhenTheClockIsSteppedPastIt) {
  SchedulerHarness h;
  int64_t at = h.nowNs() + 3600ll * 1000000000;
  auto id = h.submit([at](auto r) { r.setNotBefore(at); });
  h.settle();
  h.stepClock(2 * kj::HOURS);
  EXPECT_TRUE(h.launched(id));
  EXPECT_EQ(h.wallArmedNs(), -1);
}

TEST(Scheduling, AnAtTaskKeepsWaitingWhenTheClockIsSteppedBack) {
  SchedulerHarness h;
  int64_t at = h.nowNs() + 60ll * 1000000000;
  auto id = h.submit([at](auto r) { r.setNotBefore(at); });
  h.settle();
  h.stepClock(-1 * kj::HOURS);
  EXPECT_FALSE(h.launched(id));
  EXPECT_EQ(h.state(id), TaskState::WAITING);
  EXPECT_EQ(h.wallArmedNs(), at);  // re-armed, same deadline
  // An hour of elapsed time brings the clock back to where it was: not yet.
  h.advance(1 * kj::HOURS);
  EXPECT_FALSE(h.launched(id));
  h.advance(60 * kj::SECONDS);
  EXPECT_TRUE(h.launched(id));
}

TEST(Scheduling, AnAtTaskSurvivesARestart) {
  SchedulerHarness h;
  int64_t at = h.nowNs() + 60ll * 1000000000;
  auto id = h.submit([at](auto r) { r.setNotBefore(at); });
  h.settle();
  h.restart();
  EXPECT_FALSE(h.launched(id));
  h.advance(60 * kj::SECONDS);
  EXPECT_TRUE(h.launched(id));
}

TEST(Scheduling, OneTimerPerClockHoweverManyTasksWait) {
  SchedulerHarness h(200);
  int64_t start = h.monotonicNs();
  int64_t wallStart = h.nowNs();
  // Deadlines 1..100 s, submitted out of order (37 and 100 are coprime).
  for (int i = 0; i < 100; i++) {
    uint64_t seconds = (i * 37) % 100 + 1;
    h.submit([seconds](auto r) { r.setDelayUsec(seconds * 1000000); });
    int64_t at = h.nowNs() + int64_t(seconds) * 1000000000 + 500000000;  // and x.5 s by the wall
    h.submit([at](auto r) { r.setNotBefore(at); });
  }
  h.settle();
  EXPECT_EQ(h.scheduler->counts().waiting, 200u);
  EXPECT_EQ(h.countingTimer.live, 1u);
  EXPECT_EQ(h.nextEventNs(), start + 1000000000);
  EXPECT_EQ(h.countingWallTimer.live, 1u);
  EXPECT_EQ(h.wallArmedNs(), wallStart + 1500000000);

  h.advance(1 * kj::SECONDS);
  EXPECT_EQ(h.runner.launched.size(), 1u);
  EXPECT_EQ(h.countingTimer.live, 1u);
  EXPECT_EQ(h.nextEventNs(), start + 2000000000);
  h.advance(500 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(h.countingWallTimer.live, 1u);
  EXPECT_EQ(h.wallArmedNs(), wallStart + 2500000000);
}

// ---- Retries ----

Fill retries(
    uint32_t n, kj::Function<void(spec::RetryPolicy::Builder)> more = [](auto) {}) {
  return [n, more = kj::mv(more)](spec::TaskSpec::Builder r) mutable {
    auto policy = r.initRetry();
    policy.setRetries(n);
    more(policy);
  };
}

// Moves time to the task's next attempt.
void untilNextAttempt(SchedulerHarness& h, uint64_t id) {
  int64_t next = h.record(id)->get().getNextAttemptAt();
  ASSERT_GE(next, h.nowNs());
  h.advance((next - h.nowNs()) * kj::NANOSECONDS);
}

TEST(Scheduling, RetriesThreeTimesThenFailsWithFourAttemptsOfTheirOwn) {
  SchedulerHarness h;
  auto id = h.submit(retries(3, [](auto p) { p.setOnExit(true); }));
  h.settle();
  for (uint32_t n = 1; n <= 4; n++) {
    ASSERT_EQ(h.runner.launched.size(), n);
    EXPECT_EQ(h.runner.launched[n - 1].attempt, n);
    EXPECT_EQ(h.state(id), TaskState::RUNNING);
    int64_t endedAt = h.nowNs();
    h.exit(id, 1);
    if (n == 4) break;
    auto record = h.record(id);
    EXPECT_EQ(record->get().getState(), TaskState::RETRYING) << "after attempt " << n;
    EXPECT_EQ(record->get().getReason(), EndReason::EXIT);
    EXPECT_THAT(record->get().getMessage().cStr(),
                HasSubstr(kj::str("retrying (attempt ", n + 1, " of 4)").cStr()));
    // Full-jitter backoff: retry n waits at most 1 s * 2^(n-1).
    int64_t next = record->get().getNextAttemptAt();
    EXPECT_GE(next, endedAt);
    EXPECT_LE(next - endedAt, int64_t(backoffCeilingUsec(0, 0, n)) * 1000);
    EXPECT_THAT(std::string(h.scheduler->waitingFor(record->get()).cStr()),
                StartsWith("backoff until "));
    EXPECT_THAT(std::string(h.scheduler->waitingFor(record->get()).cStr()),
                EndsWith(kj::str(", then attempt ", n + 1).cStr()));
    untilNextAttempt(h, id);
  }
  h.advance(20 * kj::MINUTES);
  EXPECT_EQ(h.runner.launched.size(), 4u);
  auto record = h.record(id);
  EXPECT_EQ(record->get().getState(), TaskState::FAILED);
  EXPECT_EQ(record->get().getAttempts(), 4u);
  EXPECT_EQ(record->get().getNextAttemptAt(), 0);
  EXPECT_EQ(exitStatusOf(record->get()), 1);
  uint32_t seen = 0;
  h.store->forEachAttempt(id, [&](records::Attempt::Reader attempt) {
    seen++;
    EXPECT_EQ(attempt.getNumber(), seen);
    EXPECT_EQ(attempt.getState(), TaskState::FAILED) << "attempt " << seen;
    EXPECT_EQ(attempt.getReason(), EndReason::EXIT) << "attempt " << seen;
    EXPECT_EQ(attempt.getExitCode(), 1) << "attempt " << seen;
    EXPECT_NE(attempt.getEndedAt(), 0) << "attempt " << seen;
  });
  EXPECT_EQ(seen, 4u);
}

TEST(Scheduling, EachAttemptKeepsItsOwnEnd) {
  SchedulerHarness h;
  auto id = h.submit(retries(3, [](auto p) {
    p.setOnExit(true);
    p.setOnSignal(true);
  }));
  h.settle();
  h.exit(id, 3);
  untilNextAttempt(h, id);
  h.runner.killed(h.indexOf(id), SIGSEGV);
  h.settle();
  untilNextAttempt(h, id);
  h.exit(id, 0);
  EXPECT_EQ(h.state(id), TaskState::SUCCEEDED);
  std::vector<std::pair<EndReason, int>> ends;
  h.store->forEachAttempt(id, [&](records::Attempt::Reader attempt) {
    ends.push_back({attempt.getReason(), attempt.getReason() == EndReason::SIGNAL
                                             ? attempt.getSignal()
                                             : attempt.getExitCode()});
  });
  EXPECT_EQ(ends, (std::vector<std::pair<EndReason, int>>{
                      {EndReason::EXIT, 3}, {EndReason::SIGNAL, SIGSEGV}, {EndReason::EXIT, 0}}));
}

TEST(Scheduling, OnlyTheListedExitCodesAreRetried) {
  SchedulerHarness h;
  auto listed = [](auto p) {
    p.setOnExit(true);
    p.initExitCodes(1).set(0, 2);
  };
  auto other = h.submit(retries(3, listed));
  auto named = h.submit(retries(3, listed));
  h.settle();
  h.exit(other, 1);
  h.exit(named, 2);
  EXPECT_EQ(h.state(other), TaskState::FAILED);
  EXPECT_EQ(h.record(other)->get().getAttempts(), 1u);
  EXPECT_EQ(h.state(named), TaskState::RETRYING);
}

TEST(Scheduling, AnOomKillIsRetriedOnlyWhenAskedFor) {
  SchedulerHarness h;
  auto plain = h.submit(retries(2));
  auto asked = h.submit(retries(2, [](auto p) { p.setOnOom(true); }));
  h.settle();
  h.runner.killed(h.indexOf(plain), SIGKILL, 1);
  h.runner.killed(h.indexOf(asked), SIGKILL, 1);
  h.settle();
  EXPECT_EQ(h.state(plain), TaskState::FAILED);
  EXPECT_EQ(h.record(plain)->get().getReason(), EndReason::OOM);
  EXPECT_EQ(h.state(asked), TaskState::RETRYING);
  EXPECT_EQ(h.record(asked)->get().getReason(), EndReason::OOM);
}

TEST(Scheduling, ALostExecutionIsRetriedOnlyWhenAskedFor) {
  SchedulerHarness h;
  auto plain = h.submit(retries(2));
  auto asked = h.submit(retries(2, [](auto p) { p.setOnLost(true); }));
  h.settle();
  h.runner.vanish(h.indexOf(plain));
  h.runner.vanish(h.indexOf(asked));
  h.settle();
  EXPECT_EQ(h.state(plain), TaskState::FAILED);
  EXPECT_EQ(h.record(plain)->get().getReason(), EndReason::LOST);
  EXPECT_EQ(h.state(asked), TaskState::RETRYING);
  untilNextAttempt(h, asked);
  EXPECT_EQ(h.runner.launched[h.indexOf(asked)].attempt, 2u);
}

TEST(Scheduling, ASpawnFailureIsNeverRetried) {
  SchedulerHarness h;
  auto everything = [](auto p) {
    p.setOnExit(true);
    p.setOnSignal(true);
    p.setOnOom(true);
    p.setOnTimeout(true);
    p.setOnHeartbeat(true);
    p.setOnLost(true);
  };
  auto notFound = h.submit(retries(5, everything));
  h.settle();
  auto r = h.runner.result(notFound, 1);
  r.setSpawnFailed(true);
  r.setExitCode(127);
  r.setMessage("command not found: x");
  h.runner.launched[h.indexOf(notFound)].exit->fulfill();
  h.settle();
  EXPECT_EQ(h.state(notFound), TaskState::FAILED);
  EXPECT_EQ(h.record(notFound)->get().getReason(), EndReason::SPAWN);

  // Nor a runner that cannot start it at all.
  h.runner.failStarts = true;
  auto refused = h.submit(retries(5, everything));
  h.settle();
  EXPECT_EQ(h.state(refused), TaskState::FAILED);
  EXPECT_EQ(h.record(refused)->get().getReason(), EndReason::SPAWN);
  h.runner.failStarts = false;
  h.advance(20 * kj::MINUTES);
  EXPECT_EQ(h.runner.launched.size(), 1u);
}

TEST(Scheduling, RetriesAloneMeanExitTimeoutAndHeartbeat) {
  SchedulerHarness h;
  auto id = h.submit(retries(2));
  auto record = h.record(id);
  auto p = record->get().getRetry();
  EXPECT_EQ(p.getRetries(), 2u);
  EXPECT_TRUE(p.getOnExit());
  EXPECT_EQ(p.getExitCodes().size(), 0u);
  EXPECT_TRUE(p.getOnTimeout());
  EXPECT_TRUE(p.getOnHeartbeat());
  EXPECT_FALSE(p.getOnSignal());
  EXPECT_FALSE(p.getOnOom());
  EXPECT_FALSE(p.getOnLost());
  // Any flag given: only what was given.
  auto named = h.submit(retries(2, [](auto policy) { policy.setOnLost(true); }));
  auto q = h.record(named);
  EXPECT_TRUE(q->get().getRetry().getOnLost());
  EXPECT_FALSE(q->get().getRetry().getOnExit());
  EXPECT_FALSE(q->get().getRetry().getOnTimeout());
}

TEST(Scheduling, ATimeoutIsRetriedByRetriesAlone) {
  SchedulerHarness h;
  auto id = h.submit([](auto r) {
    r.getLimits().setTimeoutUsec(1000000);
    r.initRetry().setRetries(1);
  });
  h.settle();
  h.advance(1 * kj::SECONDS);
  ASSERT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  h.runner.killed(0, SIGTERM);
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::RETRYING);
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::TIMEOUT);
  untilNextAttempt(h, id);
  ASSERT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(h.runner.launched[1].attempt, 2u);
}

TEST(Scheduling, EachRetryAfterAMemoryKillRunsWithTheGrownLimitUpToItsMaximum) {
  // --memory 50M --retry-on oom,exit:any --memory-grow 2x --memory-max 150M: 50M, then 100M, then
  // 150M (2x capped), recorded on each attempt (which the runner starts with); an exit that is
  // no memory kill retries with the limit as it was.
  SchedulerHarness h;
  auto id = h.submit([](spec::TaskSpec::Builder r) {
    r.initLimits().setMemoryMaxBytes(50 << 20);
    auto p = r.initRetry();
    p.setRetries(4);
    p.setOnOom(true);
    p.setOnExit(true);
    p.setMemoryGrowFactor(2);
    p.setMemoryGrowMaxBytes(150 << 20);
  });
  h.settle();
  auto memoryOf = [&](uint32_t number) {
    KJ_IF_MAYBE (a, h.store->getAttempt(id, number)) return (*a)->get().getMemoryMaxBytes();
    ADD_FAILURE() << "no attempt " << number;
    return uint64_t(0);
  };
  ASSERT_EQ(h.runner.launched.size(), 1u);
  EXPECT_EQ(memoryOf(1), 50u << 20);
  h.runner.killed(h.indexOf(id), SIGKILL, 1);
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::RETRYING);
  EXPECT_EQ(h.record(id)->get().getLimits().getMemoryMaxBytes(), 100u << 20);
  untilNextAttempt(h, id);
  ASSERT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(memoryOf(2), 100u << 20);
  EXPECT_EQ(memoryOf(1), 50u << 20);  // each attempt keeps its own
  h.exit(id, 3);                      // not a memory kill: no growth
  EXPECT_EQ(h.state(id), TaskState::RETRYING);
  untilNextAttempt(h, id);
  ASSERT_EQ(h.runner.launched.size(), 3u);
  EXPECT_EQ(memoryOf(3), 100u << 20);
  h.runner.killed(h.indexOf(id), SIGKILL, 1);
  h.settle();
  untilNextAttempt(h, id);
  ASSERT_EQ(h.runner.launched.size(), 4u);
  EXPECT_EQ(memoryOf(4), 150u << 20);  // 200M, capped
  h.runner.killed(h.indexOf(id), SIGKILL, 1);
  h.settle();
  untilNextAttempt(h, id);
  EXPECT_EQ(memoryOf(5), 150u << 20);  // stays at the cap
  h.exit(id, 0);
  EXPECT_EQ(h.state(id), TaskState::SUCCEEDED);
  // Its OOM message names the limit that attempt had, not the first one.
  KJ_IF_MAYBE (a, h.store->getAttempt(id, 4)) {
    EXPECT_THAT((*a)->get().getMessage().cStr(), HasSubstr("limit 150M"));
  } else {
    ADD_FAILURE() << "no attempt 4";
  }
}

TEST(Scheduling, EachRetryAfterATimeoutGetsTheGrownTimeout) {
  // --timeout 1s --retry-on timeout --timeout-grow 2x: attempt 2 is stopped after 2 s, not 1 s.
  SchedulerHarness h;
  auto id = h.submit([](spec::TaskSpec::Builder r) {
    r.initLimits().setTimeoutUsec(1000000);
    auto p = r.initRetry();
    p.setRetries(2);
    p.setOnTimeout(true);
    p.setTimeoutGrowFactor(2);
  });
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 1u);
  h.advance(1100 * kj::MILLISECONDS);  // the timeout: SIGTERM
  h.runner.killed(h.indexOf(id), SIGTERM);
  h.settle();
  ASSERT_EQ(h.state(id), TaskState::RETRYING);
  untilNextAttempt(h, id);
  ASSERT_EQ(h.runner.launched.size(), 2u);
  KJ_IF_MAYBE (a, h.store->getAttempt(id, 2)) {
    EXPECT_EQ((*a)->get().getTimeoutUsec(), 2000000u);
  } else {
    ADD_FAILURE() << "no attempt 2";
  }
  h.advance(1500 * kj::MILLISECONDS);  // past the first timeout, within the grown one
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
  h.exit(id, 0);
  EXPECT_EQ(h.state(id), TaskState::SUCCEEDED);
}

TEST(Scheduling, CancelWhileRetryingEndsItAtOnceWithNoFurtherAttempt) {
  SchedulerHarness h;
  auto id = h.submit(retries(3));
  h.settle();
  h.exit(id, 1);
  ASSERT_EQ(h.state(id), TaskState::RETRYING);
  auto ended = h.scheduler->whenTerminal(id);
  auto cancelled = h.scheduler->cancel(id);
  ASSERT_TRUE(cancelled.poll(h.waitScope));
  cancelled.wait(h.waitScope);
  EXPECT_TRUE(ended.poll(h.waitScope));
  EXPECT_EQ(h.state(id), TaskState::CANCELLED);
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::CANCELLED);
  h.advance(20 * kj::MINUTES);
  EXPECT_EQ(h.runner.launched.size(), 1u);
  EXPECT_EQ(h.state(id), TaskState::CANCELLED);
}

TEST(Scheduling, ARetryingTaskKeepsItsAttemptTimeAcrossARestart) {
  SchedulerHarness h;
  auto id = h.submit(retries(1, [](auto p) {
    p.setOnExit(true);
    p.setBackoffBaseUsec(10000000);  // 10 s
  }));
  h.settle();
  h.exit(id, 1);
  int64_t next = h.record(id)->get().getNextAttemptAt();
  h.restart();
  EXPECT_EQ(h.state(id), TaskState::RETRYING);
  EXPECT_EQ(h.record(id)->get().getNextAttemptAt(), next);
  untilNextAttempt(h, id);
  ASSERT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(h.runner.launched[1].attempt, 2u);
}

// ---- Keys ----

TEST(Scheduling, ASecondTaskWithTheSameKeyWaitsForTheFirst) {
  SchedulerHarness h;
  auto first = h.submit(withKey("deploy"));
  h.settle();
  auto second = h.submit(withKey("deploy"));
  h.settle();
  EXPECT_EQ(h.state(second), TaskState::WAITING);
  EXPECT_EQ(h.record(second)->get().getKeyWaitsFor(), first);
  EXPECT_FALSE(h.launched(second));
  h.exit(first, 1);  // however it ends
  EXPECT_TRUE(h.launched(second));
}

// Found as a bug (fixed in f51d44a): with A holding a key, B waiting behind
// A and C behind B, cancelling B let C start at once beside A (advance()
// only looked at keyWaitsFor, no longer active): two tasks held the key.
TEST(Scheduling, CancellingAKeyWaiterDoesNotLetTheNextOneOvertakeTheHolder) {
  SchedulerHarness h;
  auto a = h.submit(withKey("deploy"));
  h.settle();
  auto b = h.submit(withKey("deploy"));
  auto c = h.submit(withKey("deploy"));
  h.settle();
  EXPECT_EQ(h.record(c)->get().getKeyWaitsFor(), b);
  h.await(h.scheduler->cancel(b));
  h.settle();
  EXPECT_EQ(h.state(a), TaskState::RUNNING);
  EXPECT_FALSE(h.launched(c));
  EXPECT_EQ(h.state(c), TaskState::WAITING);
  h.exit(a, 0);
  EXPECT_TRUE(h.launched(c));
}

TEST(Scheduling, SkipAnswersWithTheHolderAndCreatesNothing) {
  SchedulerHarness h;
  auto holder = h.submit(withKey("deploy"));
  h.settle();
  size_t before = h.taskCount();
  EXPECT_EQ(h.submit(withKey("deploy", KeyConflict::SKIP)), holder);
  h.settle();
  EXPECT_EQ(h.taskCount(), before);
  EXPECT_EQ(h.runner.launched.size(), 1u);
}

TEST(Scheduling, ReplaceTermsTheRunningHolderAndRunsOnlyOnceItEnded) {
  SchedulerHarness h;
  auto holder = h.submit(withKey("deploy"));
  h.settle();
  auto replacement = h.submit(withKey("deploy", KeyConflict::REPLACE));
  h.settle();
  EXPECT_EQ(h.runner.launched[h.indexOf(holder)].lastSignal, SIGTERM);
  EXPECT_FALSE(h.launched(replacement));
  EXPECT_EQ(h.state(replacement), TaskState::WAITING);
  h.runner.killed(h.indexOf(holder), SIGTERM);
  h.settle();
  EXPECT_EQ(h.state(holder), TaskState::CANCELLED);
  EXPECT_EQ(h.message(holder), kj::str("replaced by task ", replacement).cStr());
  EXPECT_TRUE(h.launched(replacement));
}

// Found as a bug (fixed in f51d44a): a holder replaced while `starting`
// ended "cancelled before it started": launch() ignored the stopMessage.
TEST(Scheduling, ReplacingAStartingHolderSaysWhatReplacedIt) {
  SchedulerHarness h;
  h.runner.holdStarts = true;                 // as systemd's job for the scope is pending
  auto holder = h.submit(withKey("deploy"));  // resolved: dispatched, its start pending
  ASSERT_EQ(h.scheduler->liveAttempt(holder)
                .map([](auto a) { return a.getState(); })
                .orDefault(TaskState::WAITING),
            TaskState::STARTING);
  auto replacement = h.submit(withKey("deploy", KeyConflict::REPLACE));
  h.settle();
  EXPECT_FALSE(h.launched(replacement)) << "ran beside a holder that may still start";
  h.runner.releaseStarts();  // the holder's shim exists now, and is never told to go
  h.settle();
  ASSERT_TRUE(h.launched(holder));
  EXPECT_FALSE(h.runner.launched[h.indexOf(holder)].went);
  EXPECT_EQ(h.runner.launched[h.indexOf(holder)].lastSignal, SIGKILL);
  h.runner.killed(h.indexOf(holder), SIGKILL);
  h.settle();
  EXPECT_EQ(h.state(holder), TaskState::CANCELLED);
  EXPECT_EQ(h.message(holder), kj::str("replaced by task ", replacement).cStr());
  EXPECT_TRUE(h.launched(replacement));
}

TEST(Scheduling, ReplaceCancelsAQueuedHolderAtOnce) {
  SchedulerHarness h(1);
  auto blocker = h.submit();
  h.settle();
  auto holder = h.submit(withKey("deploy"));
  h.settle();
  ASSERT_EQ(h.state(holder), TaskState::QUEUED);
  auto replacement = h.submit(withKey("deploy", KeyConflict::REPLACE));
  EXPECT_EQ(h.state(holder), TaskState::CANCELLED);
  EXPECT_EQ(h.message(holder), kj::str("replaced by task ", replacement).cStr());
  EXPECT_EQ(h.state(replacement), TaskState::QUEUED);  // nothing to wait for
  h.exit(blocker, 0);
  EXPECT_EQ(h.launchedIds(), (std::vector<uint64_t>{blocker, replacement}));
}

TEST(Scheduling, ReplaceCancelsAHolderWaitingOnADependency) {
  SchedulerHarness h;
  auto dependency = h.submit();
  h.settle();
  auto holder = h.submit([dependency](auto r) {
    afterOk(dependency)(r);
    r.setKey("deploy");
  });
  h.settle();
  auto replacement = h.submit(withKey("deploy", KeyConflict::REPLACE));
  h.settle();
  EXPECT_EQ(h.state(holder), TaskState::CANCELLED);
  EXPECT_TRUE(h.launched(replacement));
  h.exit(dependency, 0);
  EXPECT_FALSE(h.launched(holder));
}

TEST(Scheduling, AKeyIsFreeAgainOnceItsHolderEnded) {
  SchedulerHarness h;
  auto holder = h.submit(withKey("deploy"));
  h.settle();
  h.exit(holder, 0);
  size_t before = h.taskCount();
  auto next = h.submit(withKey("deploy", KeyConflict::SKIP));
  EXPECT_NE(next, holder);
  EXPECT_EQ(h.taskCount(), before + 1);
  h.settle();
  EXPECT_TRUE(h.launched(next));
}

TEST(Scheduling, KeysBelongToTheirOwner) {
  SchedulerHarness h;
  auto alices = h.submit(h.alice, withKey("deploy"));
  auto bobs = h.submit(h.bob, withKey("deploy", KeyConflict::SKIP));
  EXPECT_NE(alices, bobs);
  h.settle();
  EXPECT_TRUE(h.launched(bobs));  // alice's key does not hold bob's back
  auto bobs2 = h.submit(h.bob, withKey("deploy", KeyConflict::REPLACE));
  h.settle();
  EXPECT_EQ(h.runner.launched[h.indexOf(alices)].lastSignal, 0);  // bob replaced his own only
  EXPECT_EQ(h.runner.launched[h.indexOf(bobs)].lastSignal, SIGTERM);
  h.runner.killed(h.indexOf(bobs), SIGTERM);
  h.settle();
  EXPECT_EQ(h.state(bobs), TaskState::CANCELLED);
  EXPECT_EQ(h.state(alices), TaskState::RUNNING);
  EXPECT_TRUE(h.launched(bobs2));
}

TEST(Scheduling, AKeyWaiterSurvivesARestart) {
  SchedulerHarness h;
  auto holder = h.submit(withKey("deploy"));
  h.settle();
  auto second = h.submit(withKey("deploy"));
  h.settle();
  h.runner.adoptable = std::make_pair(holder, uint32_t(1));
  h.restart();
  EXPECT_EQ(h.state(second), TaskState::WAITING);
  // The key is still held after the restart.
  EXPECT_EQ(h.submit(withKey("deploy", KeyConflict::SKIP)), holder);
  h.exit(holder, 0);
  EXPECT_TRUE(h.launched(second));
}

// ---- Request ids ----

TEST(Scheduling, TheSameRequestIdGivesTheSameTask) {
  SchedulerHarness h;
  auto first = h.submit(withRequestId("r-1"));
  h.settle();
  auto again = h.submit(withRequestId("r-1"));
  EXPECT_EQ(again, first);
  EXPECT_EQ(h.taskCount(), 1u);
  // Also once the task ended.
  h.exit(first, 0);
  EXPECT_EQ(h.submit(withRequestId("r-1")), first);
  EXPECT_EQ(h.taskCount(), 1u);
  EXPECT_EQ(h.runner.launched.size(), 1u);
}

TEST(Scheduling, RequestIdsBelongToTheirOwner) {
  SchedulerHarness h;
  auto alices = h.submit(h.alice, withRequestId("r-1"));
  auto bobs = h.submit(h.bob, withRequestId("r-1"));
  EXPECT_NE(alices, bobs);
  EXPECT_EQ(h.taskCount(), 2u);
}

TEST(Scheduling, ARequestIdIsForgottenAfterADay) {
  SchedulerHarness h;
  auto first = h.submit(withRequestId("r-1"));
  h.clock.time = h.clock.time + 23 * kj::HOURS;
  EXPECT_EQ(h.submit(withRequestId("r-1")), first);
  h.clock.time = h.clock.time + 1 * kj::HOURS + 1 * kj::SECONDS;
  auto later = h.submit(withRequestId("r-1"));
  EXPECT_NE(later, first);
  EXPECT_EQ(h.taskCount(), 2u);
  // The new one is remembered in its turn.
  EXPECT_EQ(h.submit(withRequestId("r-1")), later);
  EXPECT_EQ(h.taskCount(), 2u);
}

TEST(Scheduling, ConcurrentSubmitsWithOneRequestIdMakeOneTask) {
  SchedulerHarness h;
  auto p1 = h.startSubmit(h.alice, withRequestId("r-1"));
  auto p2 = h.startSubmit(h.alice, withRequestId("r-1"));
  auto p3 = h.startSubmit(h.alice, withRequestId("r-1"));
  ASSERT_TRUE(p1.poll(h.waitScope));
  ASSERT_TRUE(p2.poll(h.waitScope));
  ASSERT_TRUE(p3.poll(h.waitScope));
  auto id = p1.wait(h.waitScope);
  EXPECT_EQ(p2.wait(h.waitScope), id);
  EXPECT_EQ(p3.wait(h.waitScope), id);
  EXPECT_EQ(h.taskCount(), 1u);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 1u);
}

TEST(Scheduling, ARequestIdSurvivesARestart) {
  SchedulerHarness h;
  auto first = h.submit(withRequestId("r-1"));
  h.settle();
  h.runner.adoptable = std::make_pair(first, uint32_t(1));
  h.restart();
  EXPECT_EQ(h.submit(withRequestId("r-1")), first);
  EXPECT_EQ(h.taskCount(), 1u);
}

// ---- Queues at run time ----

TEST(Scheduling, LoweringTheConcurrencyStartsNothingUntilFewerRun) {
  SchedulerHarness h(4);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 12; i++) ids.push_back(h.submit());
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 4u);
  auto info = h.await(h.scheduler->setConcurrency("default", uint32_t(1), 0));
  EXPECT_EQ(info.concurrency, 1u);
  EXPECT_FALSE(info.fromConfig);
  for (size_t i = 0; i < 3; i++) {
    h.runner.exit(i, 0);
    h.settle();
    EXPECT_EQ(h.runner.launched.size(), 4u) << "after exit " << i;
  }
  h.runner.exit(3, 0);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 5u);
  EXPECT_EQ(h.scheduler->counts().running, 1u);
  h.runner.exit(4, 0);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 6u);
  EXPECT_EQ(h.scheduler->counts().running, 1u);
  // Back to the TOML's value: the free slots fill at once.
  info = h.await(h.scheduler->setConcurrency("default", nullptr, 0));
  EXPECT_EQ(info.concurrency, 4u);
  EXPECT_TRUE(info.fromConfig);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 9u);
  EXPECT_EQ(h.scheduler->counts().running, 4u);
}

TEST(Scheduling, ConcurrencySetAtRunTimeSurvivesARestart) {
  SchedulerHarness h(4);
  h.await(h.scheduler->setConcurrency("default", uint32_t(1), 0));
  h.restart();
  for (int i = 0; i < 3; i++) h.submit();
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 1u);
  for (auto& q : h.scheduler->queueList()) {
    if (q.name == "default") {
      EXPECT_EQ(q.concurrency, 1u);
      EXPECT_FALSE(q.fromConfig);
    }
  }
}

TEST(Scheduling, APausedQueueStartsNothingAndResumeStartsAtOnce) {
  SchedulerHarness h(2);
  for (int i = 0; i < 5; i++) h.submit();
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 2u);
  auto info = h.await(h.scheduler->setPaused("default", true, 1000));
  EXPECT_TRUE(info.paused);
  h.runner.exit(0, 0);
  h.runner.exit(1, 1);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(h.scheduler->counts().queued, 3u);
  info = h.await(h.scheduler->setPaused("default", false, 1000));
  EXPECT_FALSE(info.paused);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 4u);
}

TEST(Scheduling, APauseSurvivesARestart) {
  SchedulerHarness h(2);
  h.await(h.scheduler->setPaused("default", true, 1000));
  for (int i = 0; i < 3; i++) h.submit();
  h.restart();
  EXPECT_EQ(h.runner.launched.size(), 0u);
  bool found = false;
  for (auto& q : h.scheduler->queueList()) {
    if (q.name != "default") continue;
    found = true;
    EXPECT_TRUE(q.paused);
    EXPECT_EQ(q.queued, 3u);
    EXPECT_THAT(q.pausedReason.cStr(), HasSubstr("1000"));
  }
  EXPECT_TRUE(found);
  h.await(h.scheduler->setPaused("default", false, 1000));
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 2u);
}

TEST(Scheduling, AResumeSurvivesARestart) {
  SchedulerHarness h(2);
  h.await(h.scheduler->setPaused("default", true, 1000));
  h.await(h.scheduler->setPaused("default", false, 1000));
  h.restart();
  h.submit();
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 1u);
}

TEST(Scheduling, PauseOnFailurePausesTheQueueWhenATaskFails) {
  SchedulerHarness h;
  h.config.queues[1].pauseOnFailure = true;  // "batch", one slot
  h.scheduler->reloadQueues(h.config);
  auto inBatch = [](auto r) { r.setQueue("batch"); };
  auto ok = h.submit(inBatch);
  auto bad = h.submit(inBatch);
  auto next = h.submit(inBatch);
  h.settle();
  h.exit(ok, 0);  // a success leaves it running
  ASSERT_TRUE(h.launched(bad));
  h.exit(bad, 1);
  EXPECT_FALSE(h.launched(next));
  EXPECT_EQ(h.state(next), TaskState::QUEUED);
  for (auto& q : h.scheduler->queueList()) {
    if (q.name != "batch") continue;
    EXPECT_TRUE(q.paused);
    EXPECT_THAT(q.pausedReason.cStr(), HasSubstr(kj::str("task ", bad, " failed").cStr()));
  }
  // Other queues go on.
  auto elsewhere = h.submit();
  h.settle();
  EXPECT_TRUE(h.launched(elsewhere));
  // And it is persisted like a pause by hand.
  h.runner.adoptable = std::make_pair(elsewhere, uint32_t(1));
  h.restart();
  EXPECT_FALSE(h.launched(next));
  h.await(h.scheduler->setPaused("batch", false, 0));
  h.settle();
  EXPECT_TRUE(h.launched(next));
}

// ---- Priority ----

TEST(Scheduling, HigherPriorityFirstThenLowerId) {
  SchedulerHarness h(1);
  for (auto& q : h.config.queues)
    q.maxUserPriority = spec::MAX_PRIORITY;  // raising is tested below
  h.scheduler->reloadQueues(h.config);
  auto blocker = h.submit();
  h.settle();
  auto low = h.submit([](auto r) { r.setPriority(-5); });
  auto mid1 = h.submit();
  auto high = h.submit([](auto r) { r.setPriority(10); });
  auto mid2 = h.submit();
  // A task that becomes ready later still takes its place by priority.
  auto dependency = h.submit(h.alice, [](auto r) { r.setQueue("batch"); });
  h.settle();
  auto late = h.submit([dependency](auto r) {
    afterOk(dependency)(r);
    r.setPriority(5);
  });
  h.settle();
  h.exit(dependency, 0);
  h.exit(blocker, 0);
  for (auto id : {high, late, mid1, mid2, low}) {
    ASSERT_TRUE(h.launched(id)) << id;
    h.exit(id, 0);
  }
  std::vector<uint64_t> defaultQueue;
  for (auto id : h.launchedIds()) {
    if (id != dependency) defaultQueue.push_back(id);
  }
  EXPECT_EQ(defaultQueue, (std::vector<uint64_t>{blocker, high, late, mid1, mid2, low}));
}

// ---- Priority and fair share (DESIGN 6, "A shared server") ----

// The exception a submit is refused with.
kj::Exception refusal(SchedulerHarness& h, const Identity& who, Fill fill,
                      SubmitExtras extras = {}) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 auto promise = h.startSubmit(who, kj::mv(fill), extras);
                 KJ_ASSERT(promise.poll(h.waitScope));
                 promise.wait(h.waitScope);
               })) {
    return kj::mv(*e);
  }
  KJ_FAIL_ASSERT("the submit was accepted");
}

TEST(Scheduling, BobsFirstTaskTakesTheNextFreeSlotWhateverAlicesBacklog) {
  SchedulerHarness h(2);
  std::vector<uint64_t> alices;
  for (int i = 0; i < 500; i++) alices.push_back(h.submit(h.alice));
  h.settle();
  auto bobs = h.submit(h.bob);
  h.settle();
  EXPECT_FALSE(h.launched(bobs));  // both slots are Alice's
  h.exit(alices[0], 0);
  EXPECT_TRUE(h.launched(bobs));
  EXPECT_EQ(h.launchedIds().back(), bobs);
}

TEST(Scheduling, WithOneSlotTwoUsersTakeTurns) {
  SchedulerHarness h;
  auto inBatch = [](auto r) { r.setQueue("batch"); };  // one slot
  std::vector<uint64_t> alices, bobs;
  for (int i = 0; i < 4; i++) alices.push_back(h.submit(h.alice, inBatch));
  for (int i = 0; i < 3; i++) bobs.push_back(h.submit(h.bob, inBatch));
  h.settle();
  std::vector<uint64_t> order;
  for (int i = 0; i < 7; i++) {
    order.push_back(h.launchedIds().back());
    h.exit(order.back(), 0);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{alices[0], bobs[0], alices[1], bobs[1], alices[2],
                                          bobs[2], alices[3]}));
}

TEST(Scheduling, AFreeSlotGoesToTheUserRunningFewestThenTheOneServedLeastRecently) {
  SchedulerHarness h(3);
  Identity carol{1002, 1002, kj::heapArray<gid_t>({1002})};
  std::vector<uint64_t> alices;
  for (int i = 0; i < 6; i++) alices.push_back(h.submit(h.alice));
  h.settle();  // Alice alone: she takes all three slots
  auto bob1 = h.submit(h.bob);
  auto bob2 = h.submit(h.bob);
  auto carol1 = h.submit(carol);
  h.settle();
  h.exit(alices[0], 0);  // Bob and Carol run none and were never served: Bob (lower uid)
  EXPECT_EQ(h.launchedIds().back(), bob1);
  h.exit(alices[1], 0);  // Carol runs none
  EXPECT_EQ(h.launchedIds().back(), carol1);
  h.exit(alices[2], 0);  // one each now: Bob's start is older than Carol's, Alice's older still
  EXPECT_EQ(h.launchedIds().back(), alices[3]);
  h.exit(carol1, 0);  // Carol has nothing left; Bob runs one, Alice one: Bob's start is older
  EXPECT_EQ(h.launchedIds().back(), bob2);
}

TEST(Scheduling, PriorityOrdersOneUsersTasksNotWhoseTurnItIs) {
  SchedulerHarness h;
  h.config.queues[1].maxUserPriority = 100;
  h.scheduler->reloadQueues(h.config);
  auto inBatch = [](int p) {
    return [p](spec::TaskSpec::Builder r) {
      r.setQueue("batch");
      r.setPriority(p);
    };
  };
  auto a0 = h.submit(h.alice, inBatch(0));  // starts at once
  h.settle();
  auto a1 = h.submit(h.alice, inBatch(0));
  auto a2 = h.submit(h.alice, inBatch(90));
  auto b1 = h.submit(h.bob, inBatch(-50));
  auto b2 = h.submit(h.bob, inBatch(5));
  h.settle();
  std::vector<uint64_t> order{a0};
  h.exit(a0, 0);
  for (int i = 0; i < 4; i++) {
    order.push_back(h.launchedIds().back());
    h.exit(order.back(), 0);
  }
  // Bob's turn first (Alice was just served), his highest first; then Alice's 90 before her 0.
  EXPECT_EQ(order, (std::vector<uint64_t>{a0, b2, a2, b1, a1}));
}

TEST(Scheduling, AQueueWithFairShareOffServesByPriorityThenIdForEveryone) {
  SchedulerHarness h;
  auto inBatch = [](auto r) { r.setQueue("batch"); };
  std::vector<uint64_t> alices;
  for (int i = 0; i < 3; i++) alices.push_back(h.submit(h.alice, inBatch));
  h.settle();
  auto bobs = h.submit(h.bob, inBatch);
  alices.push_back(h.submit(h.alice, inBatch));
  // Turned off while tasks are queued: they keep their place by id.
  h.config.queues[1].fairShare = false;
  h.scheduler->reloadQueues(h.config);
  std::vector<uint64_t> order;
  for (int i = 0; i < 5; i++) {
    order.push_back(h.launchedIds().back());
    h.exit(order.back(), 0);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{alices[0], alices[1], alices[2], bobs, alices[3]}));
  // And on again.
  for (int i = 0; i < 3; i++) alices.push_back(h.submit(h.alice, inBatch));
  h.settle();
  bobs = h.submit(h.bob, inBatch);
  h.config.queues[1].fairShare = true;
  h.scheduler->reloadQueues(h.config);
  h.exit(alices[4], 0);
  EXPECT_EQ(h.launchedIds().back(), bobs);
}

TEST(Scheduling, FairShareCountsWhatRunsAfterARestart) {
  SchedulerHarness h(2);
  std::vector<uint64_t> alices;
  for (int i = 0; i < 5; i++) alices.push_back(h.submit(h.alice));
  auto bob1 = h.submit(h.bob);
  h.settle();
  // Alice runs two. After a restart both are re-adopted (the fake adopts one).
  h.runner.adoptable = std::make_pair(alices[0], uint32_t(1));
  h.restart();
  // alices[1] was lost; its slot went to Bob (running none), not to Alice.
  EXPECT_TRUE(h.launched(bob1));
}

TEST(Scheduling, PriorityAboveTheQueuesMaximumIsForRootAndTheAdminGroup) {
  SchedulerHarness h;
  auto priority = [](int p) { return [p](spec::TaskSpec::Builder r) { r.setPriority(p); }; };
  auto e = refusal(h, h.alice, priority(1));
  EXPECT_EQ(e.getType(), kj::Exception::Type::FAILED);
  EXPECT_THAT(e.getDescription().cStr(),
              StartsWith("permission denied: priority 1 is above 0, the highest a user may set "
                         "in queue default (queues.default.max_user_priority)"));
  EXPECT_EQ(h.taskCount(), 0u);
  h.submit(h.alice, priority(-100));  // lowering one's own is always allowed
  SubmitExtras admin;
  admin.exempt = true;
  h.submit(h.alice, priority(100), admin);
  h.config.queues[0].maxUserPriority = 10;
  h.scheduler->reloadQueues(h.config);
  h.submit(h.alice, priority(10));
  EXPECT_THAT(h.submitError(h.alice, priority(11)), HasSubstr("above 10"));
}

TEST(Scheduling, APerUserQuotaRefusesTheExcessAsOverloadedAndFreesAsTasksEnd) {
  SchedulerHarness h(1);
  h.config.limits.maxActiveTasksPerUser = 3;
  h.scheduler->reloadQueues(h.config);
  auto first = h.submit(h.alice);
  h.submit(h.alice, [](auto r) { r.setQueue("batch"); });  // every queue counts
  h.submit(h.alice, [](auto r) {
    r.setNotBefore(1);
    r.setQueue("batch");
  });
  h.settle();
  auto e = refusal(h, h.alice, [](auto) {});
  EXPECT_EQ(e.getType(), kj::Exception::Type::OVERLOADED);
  EXPECT_EQ(std::string(e.getDescription().cStr()),
            "quota: user 1000 has 3 active tasks, the limit (limits.max_active_tasks_per_user) "
            "is 3; submit again once some have ended");
  EXPECT_EQ(h.taskCount(), 3u);
  auto bobs = h.submit(h.bob);  // Bob has his own
  SubmitExtras admin;
  admin.exempt = true;
  auto exempt = h.submit(
      h.alice, [](auto) {}, admin);  // root and the admin group are exempt
  h.exit(first, 0);
  h.exit(bobs, 0);
  h.exit(exempt, 0);
  auto again = h.submit(h.alice);  // room again
  h.settle();
  // A pipelined flood counts before it is durable: only what fits is taken.
  h.exit(again, 0);
  kj::Vector<kj::Promise<uint64_t>> flood;
  for (int i = 0; i < 5; i++) {
    flood.add(kj::evalNow([&]() { return h.startSubmit(h.alice, [](auto) {}); }));
  }
  size_t accepted = 0;
  for (auto& p : flood) {
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { p.wait(h.waitScope); })) {
      EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED);
    } else {
      accepted++;
    }
  }
  EXPECT_EQ(accepted, 1u);
}

TEST(Scheduling, APerQueueQuotaNamesItsQueue) {
  SchedulerHarness h(1);
  h.config.queues[1].maxActiveTasksPerUser = 2;
  h.scheduler->reloadQueues(h.config);
  auto inBatch = [](auto r) { r.setQueue("batch"); };
  auto running = h.submit(h.alice, inBatch);
  h.submit(h.alice, inBatch);
  auto e = refusal(h, h.alice, inBatch);
  EXPECT_EQ(e.getType(), kj::Exception::Type::OVERLOADED);
  EXPECT_THAT(e.getDescription().cStr(),
              HasSubstr("active tasks in queue batch, the limit "
                        "(queues.batch.max_active_tasks_per_user) is 2"));
  h.submit(h.alice);  // other queues are not bound by it
  h.submit(h.bob, inBatch);
  // Quotas count what a restart recovers.
  h.runner.adoptable = std::make_pair(running, uint32_t(1));
  h.restart();
  EXPECT_EQ(refusal(h, h.alice, inBatch).getType(), kj::Exception::Type::OVERLOADED);
}

// ---- Starting at submit ----

TEST(Scheduling, AFirstAttemptIntoAFreeSlotIsStoredWithItsSubmit) {
  // `starting` rides in the submit's own commit: two commits to running (the
  // submit, then `running` with the shim's pid), not three.
  SchedulerHarness h;
  h.settle();
  uint64_t before = h.commit->commits();
  auto id = h.submit();
  KJ_IF_MAYBE (first, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*first)->get().getState(), TaskState::STARTING) << "durable when the reply went";
  } else {
    FAIL() << "attempt 1 was not stored with the submit";
  }
  h.settle();
  ASSERT_TRUE(h.launched(id));
  EXPECT_TRUE(h.runner.launched[h.indexOf(id)].went);
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
  EXPECT_EQ(h.commit->commits() - before, 2u);
}

TEST(Scheduling, OnlyAFreeSlotWithNothingAheadStartsAtSubmit) {
  SchedulerHarness h(1);
  auto first = h.submit();
  auto second = h.submit();  // the slot is taken: it queues, as before
  EXPECT_TRUE(h.store->getAttempt(second, 1) == nullptr);
  h.settle();
  EXPECT_EQ(h.state(second), TaskState::QUEUED);
  h.exit(first, 0);
  EXPECT_EQ(h.state(second), TaskState::RUNNING);

  // A paused queue holds a new task even with a slot free.
  h.await(h.scheduler->setPaused("default", true, 0));
  h.exit(second, 0);
  auto third = h.submit();
  h.settle();
  EXPECT_EQ(h.state(third), TaskState::QUEUED);
  EXPECT_FALSE(h.launched(third));
}

TEST(Scheduling, ACrashBeforeTheShimOfAStartAtSubmitRequeuesIt) {
  // The submit's commit holds attempt 1 as `starting`; the daemon dies before
  // the shim exists. No user code ran: attempt 1 is `not started`, and the
  // task runs as attempt 2 (numbers are never reused).
  SchedulerHarness h;
  h.runner.holdStarts = true;
  auto id = h.submit();
  EXPECT_EQ(h.state(id), TaskState::STARTING);
  h.runner.holdStarts = false;
  h.restart();
  ASSERT_TRUE(h.launched(id));
  EXPECT_EQ(h.runner.launched[h.indexOf(id)].attempt, 2u);
  KJ_IF_MAYBE (first, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*first)->get().getReason(), EndReason::NOT_STARTED);
  } else {
    FAIL() << "attempt 1 was not stored";
  }
  h.exit(id, 0);
  EXPECT_EQ(h.state(id), TaskState::SUCCEEDED);
}

TEST(Scheduling, ARefusedSubmitGivesBackTheSlotItHeld) {
  // A store that cannot grow past 1 MiB refuses a submit of ~1 MiB: the
  // slot it took at submit, its attempt and its events go with it.
  StoreOptions tiny;
  tiny.initialMapBytes = 1 << 20;
  tiny.maxMapBytes = 1 << 20;
  SchedulerHarness h({.concurrency = 1, .store = tiny});
  h.settle();
  auto big = std::string(1040000, 'x');  // within MAX_COMMAND_BYTES, beyond the map
  auto refused = h.submitError(h.alice, [&](spec::TaskSpec::Builder r) {
    r.initEnv(1).set(0, kj::str("BIG=", big.c_str()).asBytes());
  });
  EXPECT_NE(refused, "") << "the store took a submit larger than it can hold";
  h.settle();
  EXPECT_EQ(h.scheduler->counts().running, 0u);
  auto id = h.submit();
  h.settle();
  EXPECT_TRUE(h.launched(id)) << "the refused submit kept the queue's one slot";
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
}

}  // namespace

// ---- hold / release (scheduler-hold.c++) ----

TEST(Scheduling, AHeldQueuedTaskGoesBackToWaitingAndRunsOnlyOnceReleased) {
  SchedulerHarness h(1);
  auto first = h.submit();
  h.settle();
  auto second = h.submit();
  h.settle();
  EXPECT_EQ(h.state(second), TaskState::QUEUED);
  uint64_t ids[] = {second};
  h.scheduler->hold(ids, true).wait(h.waitScope);
  EXPECT_EQ(h.state(second), TaskState::WAITING);
  EXPECT_TRUE(h.record(second)->get().getHeld());
  EXPECT_THAT(std::string(h.scheduler->waitingFor(h.record(second)->get()).cStr()),
              StartsWith("held (taskctl release "));
  h.exit(first, 0);  // its slot frees: the held task stays put
  EXPECT_FALSE(h.launched(second));
  h.scheduler->hold(ids, false).wait(h.waitScope);
  h.settle();
  EXPECT_TRUE(h.launched(second));
  EXPECT_FALSE(h.record(second)->get().getHeld());
}

TEST(Scheduling, HoldRefusesARunningTaskAndChangesNoneOfTheOthers) {
  SchedulerHarness h(1);
  auto first = h.submit();
  h.settle();
  auto second = h.submit();
  h.settle();
  uint64_t ids[] = {second, first};
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { h.scheduler->hold(ids, true); })) {
    EXPECT_THAT(e->getDescription().cStr(), HasSubstr("is running"));
  } else {
    ADD_FAILURE() << "holding a running task was not refused";
  }
  h.settle();
  EXPECT_EQ(h.state(second), TaskState::QUEUED);
  EXPECT_FALSE(h.record(second)->get().getHeld());
}

TEST(Scheduling, ASubmittedHeldTaskWaitsAndARetryingHeldOneWaitsAfterItsBackoff) {
  SchedulerHarness h;
  auto held = h.submit([](auto r) { r.setHold(true); });
  h.settle();
  EXPECT_EQ(h.state(held), TaskState::WAITING);
  EXPECT_FALSE(h.launched(held));
  auto retrying = h.submit([](auto r) { r.initRetry().setRetries(1); });
  h.settle();
  h.exit(retrying, 1);
  EXPECT_EQ(h.state(retrying), TaskState::RETRYING);
  uint64_t ids[] = {retrying};
  h.scheduler->hold(ids, true).wait(h.waitScope);
  EXPECT_EQ(h.state(retrying), TaskState::RETRYING);
  untilNextAttempt(h, retrying);
  EXPECT_EQ(h.state(retrying), TaskState::WAITING);
  EXPECT_EQ(h.indexOf(retrying), 0u);  // no second attempt began (the held one never ran)
  h.scheduler->hold(ids, false).wait(h.waitScope);
  h.settle();
  EXPECT_EQ(h.runner.launched.back().taskId, retrying);
}

// ---- Drain (scheduler-drain.c++) ----

// The daemon's own events (task 0) as "action by uid", in seq order.
std::vector<std::string> daemonEvents(SchedulerHarness& h) {
  std::vector<std::string> out;
  h.store->forEachEventFrom(1, [&](records::Event::Reader e) {
    if (e.getTaskId() == 0) {
      out.push_back(kj::str(e.getAction(), " by ", e.getUid()).cStr());
      EXPECT_FALSE(e.getCreated());
      EXPECT_EQ(e.getFrom(), e.getTo());
      EXPECT_EQ(e.getQueue(), "");
    }
    return true;
  });
  return out;
}

TEST(Scheduling, DrainedNothingStartsRunningWorkFinishesUndrainStartsTheRest) {
  SchedulerHarness h(1);
  auto first = h.submit();
  h.settle();
  auto second = h.submit();
  h.settle();
  EXPECT_EQ(h.scheduler->drain(true, false, 0).wait(h.waitScope), 1u);
  EXPECT_TRUE(h.scheduler->drained());
  auto third = h.submit([](auto r) { r.setQueue("batch"); });  // a queue with a free slot
  h.settle();
  EXPECT_FALSE(h.launched(third));
  h.exit(first, 0);
  EXPECT_EQ(h.state(first), TaskState::SUCCEEDED);
  EXPECT_FALSE(h.launched(second));
  EXPECT_EQ(h.state(second), TaskState::QUEUED);
  EXPECT_EQ(std::string(h.scheduler->waitingFor(h.record(second)->get()).cStr()),
            "taskctld is drained (taskctl undrain)");
  // Drained and paused: both named, drained first (`queue resume` alone is not enough).
  h.scheduler->setPaused("batch", true, 0).wait(h.waitScope);
  EXPECT_EQ(std::string(h.scheduler->waitingFor(h.record(third)->get()).cStr()),
            "taskctld is drained (taskctl undrain), and queue batch is paused (taskctl queue "
            "resume batch)");
  for (auto& q : h.scheduler->queueList()) EXPECT_TRUE(q.drained) << q.name.cStr();
  EXPECT_EQ(h.scheduler->drain(true, false, 0).wait(h.waitScope), 0u);  // no change, no event
  // Undrain answers with what runs once it is durable: the task it just started.
  EXPECT_EQ(h.scheduler->drain(false, false, 1000).wait(h.waitScope), 1u);
  h.settle();
  EXPECT_TRUE(h.launched(second));
  EXPECT_FALSE(h.launched(third)) << "undrain resumed a paused queue";
  EXPECT_EQ(std::string(h.scheduler->waitingFor(h.record(third)->get()).cStr()),
            "queue batch is paused (taskctl queue resume batch)");
  EXPECT_EQ(daemonEvents(h), (std::vector<std::string>{"drained by 0", "undrained by 1000"}));
}

TEST(Scheduling, DrainWaitAnswersWhenTheLastRunningEndIsDurable) {
  SchedulerHarness h(2);
  auto a = h.submit();
  auto b = h.submit();
  h.settle();
  auto waiting = h.scheduler->drain(true, true, 0);
  h.settle();
  EXPECT_FALSE(waiting.poll(h.waitScope));
  h.exit(a, 0);
  EXPECT_FALSE(waiting.poll(h.waitScope)) << "answered while task b runs";
  uint64_t commits = h.commit->commits();
  h.exit(b, 1);
  ASSERT_TRUE(waiting.poll(h.waitScope));
  EXPECT_EQ(waiting.wait(h.waitScope), 0u);
  EXPECT_GT(h.commit->commits(), commits);
  EXPECT_EQ(h.state(b), TaskState::FAILED);  // its end was durable first
  // Nothing runs: answered at once.
  auto idle = h.scheduler->drain(true, true, 0);
  ASSERT_TRUE(idle.poll(h.waitScope));
  EXPECT_EQ(idle.wait(h.waitScope), 0u);
}

TEST(Scheduling, UndrainFailsAWaitingDrain) {
  SchedulerHarness h(1);
  auto a = h.submit();
  h.settle();
  auto waiting = h.scheduler->drain(true, true, 0);
  h.settle();
  h.scheduler->drain(false, false, 0).wait(h.waitScope);
  ASSERT_TRUE(waiting.poll(h.waitScope));
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { waiting.wait(h.waitScope); })) {
    EXPECT_THAT(e->getDescription().cStr(), HasSubstr("undrained while waiting"));
  } else {
    ADD_FAILURE() << "a waiting drain was answered after an undrain";
  }
  h.exit(a, 0);
}

TEST(Scheduling, ARetryWhoseBackoffEndsWhileDrainedWaitsQueued) {
  SchedulerHarness h;
  auto id = h.submit(retries(1, [](auto p) { p.setOnExit(true); }));
  h.settle();
  h.exit(id, 1);
  EXPECT_EQ(h.state(id), TaskState::RETRYING);
  h.scheduler->drain(true, false, 0).wait(h.waitScope);
  untilNextAttempt(h, id);
  EXPECT_EQ(h.state(id), TaskState::QUEUED);
  EXPECT_EQ(h.runner.launched.size(), 1u);
  h.scheduler->drain(false, false, 0).wait(h.waitScope);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 2u);
}

TEST(Scheduling, DrainedSurvivesARestartAndNothingStartsAtRecovery) {
  SchedulerHarness h(1);
  auto a = h.submit();
  h.settle();
  auto b = h.submit();
  h.settle();
  h.scheduler->drain(true, false, 1000).wait(h.waitScope);
  h.exit(a, 0);
  h.restart();
  EXPECT_TRUE(h.scheduler->drained());
  EXPECT_EQ(h.store->drainState().by, 1000u);
  EXPECT_GT(h.store->drainState().at, 0);
  EXPECT_FALSE(h.launched(b));
  auto c = h.submit();  // a submit (as a timer's) is stored and waits
  h.settle();
  EXPECT_EQ(h.state(c), TaskState::QUEUED);
  EXPECT_FALSE(h.launched(c));
  h.scheduler->drain(false, false, 0).wait(h.waitScope);
  h.restart();
  EXPECT_FALSE(h.scheduler->drained());
  EXPECT_TRUE(h.launched(b));
}
}  // namespace taskctl

// ---- edit (scheduler-edit.c++) ----

namespace taskctl {
namespace {

// Edits task `id` to the spec `fill` makes (argv {"x"} unless it sets one), then lets the loop
// run; returns the refusal, or "".
std::string editTask(SchedulerHarness& h, uint64_t id, Fill fill, EditExtras extras = {}) {
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<spec::TaskSpec>();
  request.initArgv(1).set(0, "x"_kj.asBytes());
  fill(request);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 h.scheduler->edit(id, request.asReader(), extras).wait(h.waitScope);
               })) {
    return e->getDescription().cStr();
  }
  h.settle();
  return "";
}

kj::Array<capnp::word> storedBytes(SchedulerHarness& h, uint64_t id) {
  capnp::MallocMessageBuilder copy;
  copy.setRoot(h.record(id)->get());
  return capnp::messageToFlatArray(copy);
}

bool sameBytes(kj::ArrayPtr<const capnp::word> a, kj::ArrayPtr<const capnp::word> b) {
  return a.asBytes() == b.asBytes();
}

TEST(Edit, PrioritiesChangedOnQueuedTasksReorderTheirQueueAndEachRunsOnce) {
  SchedulerHarness h(1);
  auto first = h.submit();
  h.settle();
  auto a = h.submit();
  auto b = h.submit();
  auto c = h.submit();
  h.settle();
  EditExtras root;
  root.exempt = true;  // above max_user_priority (0)
  EXPECT_EQ(editTask(h, a, [](auto r) { r.setPriority(-5); }), "");
  EXPECT_EQ(editTask(
                h, c, [](auto r) { r.setPriority(5); }, root),
            "");
  EXPECT_EQ(h.state(a), TaskState::QUEUED);
  EXPECT_EQ(h.record(c)->get().getPriority(), 5);
  EXPECT_NE(h.record(c)->get().getEditedAt(), 0);
  EXPECT_EQ(h.scheduler->counts().queued, 3u);
  h.exit(first, 0);
  h.exit(c, 0);
  h.exit(b, 0);
  h.exit(a, 0);
  // Their old places in the ready list are gone: the order is the new one, nothing runs twice.
  EXPECT_EQ(h.launchedIds(), (std::vector<uint64_t>{first, c, b, a}));
  EXPECT_EQ(h.scheduler->counts().queued, 0u);
}

TEST(Edit, AnOrdinaryUserCannotRaiseAPriorityPastTheQueuesMaximum) {
  SchedulerHarness h(1);
  h.submit();
  h.settle();
  auto id = h.submit();
  h.settle();
  EXPECT_THAT(editTask(h, id, [](auto r) { r.setPriority(5); }),
              HasSubstr("permission denied: priority 5"));
  EXPECT_EQ(h.record(id)->get().getPriority(), 0);
}

TEST(Edit, ATaskMovedToAnotherQueueTakesThatQueuesSlots) {
  SchedulerHarness h(1);  // "default" one slot, "batch" one slot
  auto first = h.submit();
  h.settle();
  auto a = h.submit();
  auto b = h.submit();
  h.settle();
  auto toBatch = [](auto r) { r.setQueue("batch"); };
  EXPECT_EQ(editTask(h, a, toBatch), "");
  EXPECT_TRUE(h.launched(a));  // batch was free
  EXPECT_EQ(editTask(h, b, toBatch), "");
  EXPECT_FALSE(h.launched(b));  // batch's one slot is a's
  EXPECT_EQ(h.state(b), TaskState::QUEUED);
  EXPECT_EQ(h.record(b)->get().getQueue(), "batch");
  h.exit(first, 0);  // default's slot frees: b is no longer there
  EXPECT_FALSE(h.launched(b));
  h.exit(a, 0);
  EXPECT_TRUE(h.launched(b));
}

TEST(Edit, ARefusedEditChangesNothing) {
  SchedulerHarness h(1);
  auto first = h.submit();
  h.settle();
  auto queued = h.submit();
  h.settle();
  auto before = storedBytes(h, queued);
  uint64_t seq = h.events->lastPublished();
  EXPECT_THAT(editTask(h, first, [](auto) {}), HasSubstr("is running"));
  EXPECT_THAT(editTask(h, queued, [](auto r) { r.setQueue("nosuch"); }),
              HasSubstr("unknown queue"));
  EXPECT_THAT(editTask(h, queued, [&](auto r) { r.initAfter(1)[0].setId(queued); }),
              HasSubstr("waits only for older ones"));
  EXPECT_THAT(editTask(h, queued, [&](auto r) { r.initAfter(1)[0].setId(queued + 100); }),
              HasSubstr("no such task"));
  EXPECT_THAT(editTask(h, queued,
                       [](auto r) {
                         r.setPriority(-3);
                         auto retry = r.initRetry();
                         retry.setRetries(1);
                         retry.setOnOom(true);
                         retry.setMemoryGrowFactor(2);  // no memory limit to grow
                       }),
              HasSubstr("memory"));
  h.settle();
  EXPECT_TRUE(sameBytes(storedBytes(h, queued), before));
  EXPECT_EQ(h.events->lastPublished(), seq);
  h.exit(first, 0);
  EXPECT_TRUE(h.launched(queued));  // still in its queue, once
}

TEST(Edit, ARetryingTaskAndAnEndedOneAreRefused) {
  SchedulerHarness h;
  auto retrying = h.submit([](auto r) { r.initRetry().setRetries(1); });
  h.settle();
  h.exit(retrying, 1);
  ASSERT_EQ(h.state(retrying), TaskState::RETRYING);
  EXPECT_THAT(editTask(h, retrying, [](auto) {}), HasSubstr("has started (attempt 1 ran)"));
  auto ended = h.submit();
  h.settle();
  h.exit(ended, 0);
  EXPECT_THAT(editTask(h, ended, [](auto) {}), HasSubstr("has ended (succeeded)"));
}

TEST(Edit, DependenciesAreWaitedForAfreshAndAnEndedOneDecidesAsAtSubmit) {
  SchedulerHarness h;
  auto ok = h.submit();
  auto bad = h.submit();
  auto running = h.submit();
  h.settle();
  h.exit(ok, 0);
  h.exit(bad, 1);
  auto x = h.submit(afterOk(running));
  auto y = h.submit(afterOk(running));
  auto z = h.submit();  // queued... and running (4 slots)
  h.settle();
  ASSERT_EQ(h.state(x), TaskState::WAITING);
  EXPECT_EQ(editTask(h, x, afterOk(ok)), "");
  EXPECT_TRUE(h.launched(x));
  EXPECT_EQ(editTask(h, y, afterOk(bad)), "");
  EXPECT_EQ(h.state(y), TaskState::CANCELLED);
  EXPECT_EQ(h.record(y)->get().getReason(), EndReason::DEPENDENCY);
  // The old dependency no longer holds it back, nor brings it back.
  h.exit(running, 0);
  EXPECT_EQ(h.state(y), TaskState::CANCELLED);
  (void)z;
}

TEST(Edit, AQueuedTaskGivenADependencyWaitsForIt) {
  SchedulerHarness h(1);
  auto first = h.submit();
  h.settle();
  auto later = h.submit();
  h.settle();
  ASSERT_EQ(h.state(later), TaskState::QUEUED);
  EXPECT_EQ(editTask(h, later, afterOk(first)), "");
  EXPECT_EQ(h.state(later), TaskState::WAITING);
  EXPECT_EQ(h.scheduler->counts().queued, 0u);
  h.exit(first, 0);
  EXPECT_TRUE(h.launched(later));
}

TEST(Edit, AKeyGivenWaitsBehindItsHolderAndAKeyGivenUpLetsItsWaiterGo) {
  SchedulerHarness h(1);
  h.submit();  // takes the one slot
  h.settle();
  auto holder = h.submit(withKey("k"));
  auto waiter = h.submit(withKey("k"));
  auto plain = h.submit();
  h.settle();
  ASSERT_EQ(h.state(holder), TaskState::QUEUED);
  ASSERT_EQ(h.state(waiter), TaskState::WAITING);
  EXPECT_EQ(editTask(h, plain, withKey("k")), "");
  EXPECT_EQ(h.state(plain), TaskState::WAITING);
  EXPECT_EQ(h.record(plain)->get().getKeyWaitsFor(), waiter);
  EXPECT_EQ(editTask(h, holder, withKey("other")), "");
  EXPECT_EQ(h.state(waiter), TaskState::QUEUED);  // k is its own now
  EXPECT_EQ(h.state(plain), TaskState::WAITING);
  EXPECT_THAT(editTask(h, holder, withKey("k", KeyConflict::SKIP)), HasSubstr("is held by task"));
  EXPECT_EQ(editTask(h, holder, withKey("k", KeyConflict::REPLACE)), "");
  EXPECT_EQ(h.state(waiter), TaskState::CANCELLED);
  EXPECT_EQ(h.state(plain), TaskState::CANCELLED);
  EXPECT_THAT(h.message(waiter), HasSubstr(kj::str("replaced by task ", holder).cStr()));
}

TEST(Edit, AStartTimeStaysUnlessGivenAndAnEditSurvivesARestart) {
  SchedulerHarness h;
  auto id = h.submit([](auto r) { r.setDelayUsec(60000000); });
  h.settle();
  int64_t notBefore = h.record(id)->get().getNotBefore();
  EXPECT_EQ(editTask(h, id, [](auto r) { r.initArgv(1).set(0, "y"_kj.asBytes()); }), "");
  EXPECT_EQ(h.state(id), TaskState::WAITING);
  EXPECT_EQ(h.record(id)->get().getNotBefore(), notBefore);
  h.restart();
  auto task = h.record(id);
  EXPECT_EQ(task->get().getState(), TaskState::WAITING);
  EXPECT_EQ(kj::str(task->get().getArgv()[0].asChars()), "y");
  EXPECT_NE(task->get().getEditedAt(), 0);
  EditExtras now;
  now.startGiven = true;  // and none: at once
  EXPECT_EQ(editTask(
                h, id, [](auto r) { r.initArgv(1).set(0, "y"_kj.asBytes()); }, now),
            "");
  EXPECT_TRUE(h.launched(id));
  EXPECT_EQ(h.record(id)->get().getNotBefore(), 0);
}

TEST(Edit, QuotasCountAMovedTaskOnceAndBindTheQueueItMovesTo) {
  SchedulerHarness h(1);
  h.config.limits.maxActiveTasksPerUser = 3;
  h.config.queues[1].maxActiveTasksPerUser = 1;  // "batch"
  h.scheduler->reloadQueues(h.config);
  h.submit(h.alice);
  auto a = h.submit(h.alice, [](auto r) { r.setHold(true); });  // never starts here
  auto b = h.submit(h.alice);
  h.settle();
  // At the user's limit (3): editing one of them in its queue is no new task.
  EXPECT_EQ(editTask(h, a, [](auto r) { r.setPriority(-1); }), "");
  // Into batch: its own quota counts the task once moved.
  EXPECT_EQ(editTask(h, a, [](auto r) { r.setQueue("batch"); }), "");
  auto refused = editTask(h, b, [](auto r) { r.setQueue("batch"); });
  EXPECT_THAT(refused, HasSubstr("active tasks in queue batch"));
  EXPECT_EQ(h.record(b)->get().getQueue(), "default");
  // Back out of batch: room there again.
  EXPECT_EQ(editTask(h, a, [](auto) {}), "");
  EXPECT_EQ(editTask(h, b, [](auto r) { r.setQueue("batch"); }), "");
}

}  // namespace
}  // namespace taskctl
