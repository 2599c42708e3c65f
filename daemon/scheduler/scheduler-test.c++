#include "scheduler/scheduler.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler-harness.h"
#include "scheduler/task-spec-check.h"

namespace taskctl {
namespace {

using records::EndReason;
using records::TaskState;

// The shared harness where any user may set any priority: these tests are
// about order and cost, not the privilege of a high priority (scheduling-test,
// "Priority and fair share").
SchedulerHarness::Options anyPriority(uint32_t concurrency = 2) {
  return {.concurrency = concurrency, .maxUserPriority = spec::MAX_PRIORITY};
}

// A notice from a task's socket with what `fill` sets.
template <typename Fill>
AttemptNotice notice(Fill fill) {
  AttemptNotice n;
  fill(n);
  return n;
}

TEST(Scheduler, SubmitDispatchesInTheSameTurnAndGoesOnlyAfterRunningIsDurable) {
  SchedulerHarness h(anyPriority());
  auto id = h.submit();
  // Submit's commit resolved the promise; `starting` is committed next, then
  // the shim starts, then `running` is committed, then go.
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 1u);
  EXPECT_EQ(h.runner.launched[0].taskId, id);
  EXPECT_EQ(h.runner.launched[0].attempt, 1u);
  EXPECT_TRUE(h.runner.launched[0].went);
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
  KJ_IF_MAYBE (attempt, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*attempt)->get().getShimPid(), 1000);
    EXPECT_EQ((*attempt)->get().getShimStartTime(), 42u);
  } else {
    FAIL() << "attempt 1 not stored";
  }
  h.runner.exit(0, 0);
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::SUCCEEDED);
  EXPECT_EQ(h.exitStatus(id), 0);
  ASSERT_EQ(h.runner.released.size(), 1u);
}

TEST(Scheduler, NeverRunsMoreThanTheQueueConcurrency) {
  SchedulerHarness h(anyPriority(2));
  for (int i = 0; i < 5; i++) h.submit();
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 2u);
  h.runner.exit(0, 0);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 3u);  // the exit freed a slot: next one started
  EXPECT_EQ(h.scheduler->counts().running, 2u);
  EXPECT_EQ(h.scheduler->counts().queued, 2u);
}

TEST(Scheduler, DispatchesByPriorityThenId) {
  SchedulerHarness h(anyPriority(1));
  auto first = h.submit();  // takes the one slot
  auto priority = [](int p) { return [p](spec::TaskSpec::Builder r) { r.setPriority(p); }; };
  auto low = h.submit(priority(-5));
  auto high1 = h.submit(priority(50));
  auto high2 = h.submit(priority(50));
  auto mid = h.submit(priority(0));
  h.settle();
  kj::Vector<uint64_t> order;
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(h.runner.launched.size(), size_t(i + 1));
    order.add(h.runner.launched[i].taskId);
    h.runner.exit(i, 0);
    h.settle();
  }
  EXPECT_EQ(order[0], first);
  EXPECT_EQ(order[1], high1);
  EXPECT_EQ(order[2], high2);
  EXPECT_EQ(order[3], mid);
  EXPECT_EQ(order[4], low);
}

TEST(Scheduler, EndsWithTheRightStateReasonAndExitStatus) {
  SchedulerHarness h(anyPriority(4));
  auto exit3 = h.submit();
  auto killed = h.submit();
  auto notFound = h.submit();
  auto vanished = h.submit();
  h.settle();
  h.runner.exit(0, 3);
  h.runner.result(killed, 1).setSignal(9);
  h.runner.launched[1].exit->fulfill();
  auto r = h.runner.result(notFound, 1);
  r.setSpawnFailed(true);
  r.setExitCode(127);
  r.setMessage("command not found: c");
  h.runner.launched[2].exit->fulfill();
  h.runner.vanish(3);
  h.settle();
  EXPECT_EQ(h.state(exit3), TaskState::FAILED);
  EXPECT_EQ(h.exitStatus(exit3), 3);
  EXPECT_EQ(h.exitStatus(killed), 137);
  EXPECT_EQ(h.exitStatus(notFound), 127);
  EXPECT_EQ(h.record(notFound)->get().getReason(), EndReason::SPAWN);
  EXPECT_EQ(h.record(vanished)->get().getReason(), EndReason::LOST);
  EXPECT_EQ(h.exitStatus(vanished), 125);
}

TEST(Scheduler, RequeuesAnAttemptThatNeverStarted) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit();
  h.settle();
  h.runner.result(id, 1).setNotStarted(true);
  h.runner.vanish(0);
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(h.runner.launched[1].taskId, id);
  EXPECT_EQ(h.runner.launched[1].attempt, 2u);  // attempt numbers are never reused
}

// issue 12, point 1: a full disk kept the shim from writing its result, but
// the shim's exit status (read by the runner, whose child it was) carries
// the end: it is recorded as it happened, never as `lost`, and a success
// with --retry-on lost does not run again.
TEST(Scheduler, WithoutAResultTheShimsExitStatusTellsTheEnd) {
  SchedulerHarness h(anyPriority(5));
  auto ok = h.submit([](spec::TaskSpec::Builder t) {
    t.getRetry().setRetries(3);
    t.getRetry().setOnLost(true);
  });
  auto exit3 = h.submit();
  auto killed = h.submit();
  auto notFound = h.submit();
  auto notStarted = h.submit();
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 5u);
  h.runner.exitStatusOutcome(0).setExitCode(0);
  h.runner.exitStatusOutcome(1).setExitCode(3);
  auto k = h.runner.exitStatusOutcome(2);
  k.setExitCode(-1);
  k.setSignal(9);
  auto nf = h.runner.exitStatusOutcome(3);
  nf.setSpawnFailed(true);
  nf.setExitCode(127);
  h.runner.exitStatusOutcome(4).setNotStarted(true);
  for (size_t i = 0; i < 5; i++) h.runner.vanish(i);
  h.settle();
  EXPECT_EQ(h.state(ok), TaskState::SUCCEEDED);
  EXPECT_EQ(h.record(ok)->get().getReason(), EndReason::EXIT);
  EXPECT_EQ(h.exitStatus(ok), 0);
  EXPECT_EQ(h.state(exit3), TaskState::FAILED);
  EXPECT_EQ(h.record(exit3)->get().getReason(), EndReason::EXIT);
  EXPECT_EQ(h.exitStatus(exit3), 3);
  EXPECT_EQ(h.record(killed)->get().getReason(), EndReason::SIGNAL);
  EXPECT_EQ(h.exitStatus(killed), 137);
  EXPECT_EQ(h.record(notFound)->get().getReason(), EndReason::SPAWN);
  EXPECT_EQ(h.exitStatus(notFound), 127);
  EXPECT_TRUE(h.runner.stopped.empty()) << "an attempt with a known end was treated as lost";
  // Only the never-started one runs again (attempt 2); the success does not.
  ASSERT_EQ(h.runner.launched.size(), 6u);
  EXPECT_EQ(h.runner.launched[5].taskId, notStarted);
  EXPECT_EQ(h.runner.launched[5].attempt, 2u);
}

TEST(Scheduler, RejectsBadInputAndStoresNothing) {
  SchedulerHarness h(anyPriority());
  EXPECT_NE(h.submitError([](auto r) { r.initArgv(0); }).find("empty command"), std::string::npos);
  EXPECT_NE(h.submitError([](auto r) {
               r.initArgv(1).set(0, "x"_kj.asBytes());
               r.setPriority(101);
             }).find("priority 101 is out of range"),
            std::string::npos);
  EXPECT_NE(h.submitError([](auto r) {
               r.initArgv(1).set(0, "x"_kj.asBytes());
               r.setQueue("nope");
             }).find("unknown queue \"nope\" (queues: batch, default)"),
            std::string::npos);
  auto big = kj::heapArray<kj::byte>(spec::MAX_COMMAND_BYTES);
  memset(big.begin(), 'a', big.size());
  EXPECT_NE(h.submitError([&](auto r) {
               auto argv = r.initArgv(2);
               argv.set(0, "x"_kj.asBytes());
               argv.set(1, big);
             }).find("the limit is 1 MiB"),
            std::string::npos);
  int n = 0;
  h.store->forEachTask([&](auto) { return ++n, true; });
  EXPECT_EQ(n, 0);
  EXPECT_EQ(h.runner.launched.size(), 0u);
}

// issue 13, point 4: every field of a submit is checked before anything is
// staged. Each bad one is refused naming the field; no task, id, event or
// start comes of it, and the next good submit gets the next id.
TEST(Scheduler, RefusesEachBadFieldAndStagesNothing) {
  SchedulerHarness h(anyPriority());
  uint64_t firstId = h.store->peekNextId();
  auto nul = [](kj::StringPtr before, kj::StringPtr after) {
    auto b = kj::heapArray<kj::byte>(before.size() + 1 + after.size());
    memcpy(b.begin(), before.begin(), before.size());
    b[before.size()] = 0;
    memcpy(b.begin() + before.size() + 1, after.begin(), after.size());
    return b;
  };
  auto command = [](spec::TaskSpec::Builder r) { r.initArgv(1).set(0, "true"_kj.asBytes()); };
  auto text = [](size_t n) {
    auto s = kj::heapString(n);
    memset(s.begin(), 'k', n);
    return s;
  };
  struct Case {
    kj::StringPtr says;
    kj::Function<void(spec::TaskSpec::Builder)> fill;
  };
  kj::Vector<Case> cases;
  cases.add(Case{"empty command", [](auto r) { r.initArgv(0); }});
  cases.add(
      Case{"argv[0] holds a NUL byte", [&](auto r) { r.initArgv(1).set(0, nul("true", "x")); }});
  cases.add(Case{"argv[2] holds a NUL byte", [&](auto r) {
                   auto argv = r.initArgv(3);
                   argv.set(0, "sh"_kj.asBytes());
                   argv.set(1, "-c"_kj.asBytes());
                   argv.set(2, nul("", "rm -rf /"));
                 }});
  cases.add(Case{"environment entry 1 holds a NUL byte", [&](auto r) {
                   command(r);
                   auto env = r.initEnv(2);
                   env.set(0, "A=1"_kj.asBytes());
                   env.set(1, nul("B=", "2"));
                 }});
  cases.add(Case{"environment entry 0 is not NAME=VALUE", [&](auto r) {
                   command(r);
                   r.initEnv(1).set(0, "NOEQUALS"_kj.asBytes());
                 }});
  cases.add(Case{"environment entry 0 is not NAME=VALUE", [&](auto r) {
                   command(r);
                   r.initEnv(1).set(0, "=value"_kj.asBytes());
                 }});
  cases.add(Case{"cwd holds a NUL byte", [&](auto r) {
                   command(r);
                   r.setCwd(nul("/tmp", "x"));
                 }});
  cases.add(Case{"cwd \"tmp\" is not an absolute path", [&](auto r) {
                   command(r);
                   r.setCwd("tmp"_kj.asBytes());
                 }});
  cases.add(Case{"cwd is 5000 bytes; the limit is 4095", [&](auto r) {
                   command(r);
                   auto cwd = text(5000);
                   cwd[0] = '/';
                   r.setCwd(cwd.asBytes());
                 }});
  cases.add(Case{"65 labels; the limit is 64", [&](auto r) {
                   command(r);
                   auto labels = r.initLabels(65);
                   for (auto i : kj::indices(labels)) labels[i].setKey(kj::str("k", i));
                 }});
  cases.add(Case{"label key of 129 bytes; the limit is 128", [&](auto r) {
                   command(r);
                   r.initLabels(1)[0].setKey(text(129));
                 }});
  cases.add(Case{"label k: value of 1025 bytes; the limit is 1024", [&](auto r) {
                   command(r);
                   auto label = r.initLabels(1)[0];
                   label.setKey("k");
                   label.setValue(text(1025));
                 }});
  cases.add(Case{"label key holds a NUL byte", [&](auto r) {
                   command(r);
                   auto key = nul("a", "b");
                   r.initLabels(1)[0].setKey(kj::StringPtr(key.asChars().begin(), 3));
                 }});
  cases.add(Case{"256 retry exit codes; the limit is 255", [&](auto r) {
                   command(r);
                   auto retry = r.initRetry();
                   retry.setRetries(1);
                   auto codes = retry.initExitCodes(256);
                   for (auto i : kj::indices(codes)) codes.set(i, 1 + i % 255);
                 }});
  cases.add(Case{"1001 dependencies; the limit is 1000", [&](auto r) {
                   command(r);
                   r.initAfter(1001);
                 }});
  cases.add(Case{"key is over 256 bytes", [&](auto r) {
                   command(r);
                   r.setKey(text(257));
                 }});
  cases.add(Case{"key holds a NUL byte", [&](auto r) {
                   command(r);
                   auto key = nul("a", "b");
                   r.setKey(kj::StringPtr(key.asChars().begin(), 3));
                 }});
  cases.add(Case{"request id is over 256 bytes", [&](auto r) {
                   command(r);
                   r.setRequestId(text(257));
                 }});
  cases.add(Case{"request id holds a NUL byte", [&](auto r) {
                   command(r);
                   auto id = nul("a", "b");
                   r.setRequestId(kj::StringPtr(id.asChars().begin(), 3));
                 }});
  cases.add(Case{"queue name holds a NUL byte", [&](auto r) {
                   command(r);
                   auto q = nul("default", "");
                   r.setQueue(kj::StringPtr(q.asChars().begin(), 8));
                 }});
  // Within every per-field bound (1 MiB of argv + env counted in bytes),
  // 200,000 one-byte arguments are 3.2 MiB encoded: over the whole-task bound.
  cases.add(Case{"the limit is 2 MiB", [&](auto r) {
                   auto argv = r.initArgv(200000);
                   for (auto i : kj::indices(argv)) argv.set(i, "x"_kj.asBytes());
                 }});
  for (auto& c : cases) {
    auto error = h.submitError(kj::mv(c.fill));
    EXPECT_NE(error.find(c.says.cStr()), std::string::npos)
        << "want \"" << c.says.cStr() << "\", got \"" << error << "\"";
    EXPECT_EQ(h.store->stagedCount(), 0u) << c.says.cStr();
  }
  h.settle();
  int n = 0;
  h.store->forEachTask([&](auto) { return ++n, true; });
  EXPECT_EQ(n, 0);
  EXPECT_EQ(h.store->peekNextId(), firstId) << "a refused submit took an id";
  EXPECT_EQ(h.events->lastPublished(), 0u) << "a refused submit left an event";
  EXPECT_EQ(h.runner.launched.size(), 0u);
  EXPECT_EQ(h.submit(), firstId);
}

// issue 13, point 4: the same checks without a submit, for `schedule add`.
TEST(Scheduler, ValidateRefusesWhatSubmitRefusesAndChangesNothing) {
  SchedulerHarness h(anyPriority());
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<spec::TaskSpec>();
  auto argv = request.initArgv(1);
  argv.set(0, "true"_kj.asBytes());
  h.scheduler->validate(request);  // good: nothing thrown
  request.setCwd("relative"_kj.asBytes());
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { h.scheduler->validate(request); })) {
    EXPECT_EQ(kj::str(e->getDescription()), "cwd \"relative\" is not an absolute path");
  } else {
    ADD_FAILURE() << "a relative cwd passed";
  }
  request.setCwd("/"_kj.asBytes());
  request.setQueue("nope");
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { h.scheduler->validate(request); })) {
    EXPECT_TRUE(e->getDescription().startsWith("unknown queue \"nope\""));
  } else {
    ADD_FAILURE() << "an unknown queue passed";
  }
  EXPECT_EQ(h.store->stagedCount(), 0u);
}

// issue 13, point 4: the shim's own refusal to start the command (a NUL byte
// in a task stored before submit checked for one, say) is an end: `failed`,
// reason `spawn`, with the shim's message, after one attempt, whichever way
// it comes (the result file; the shim's exit status when no result could be
// written; an older shim's "not started" that carries a reason). Only a
// plain "not started" (the go fd closed) goes back to the queue.
TEST(Scheduler, AShimsRefusalEndsFailedSpawnAndIsNeverRequeued) {
  SchedulerHarness h(anyPriority(4));
  auto inResult = h.submit();
  auto inStatus = h.submit();
  auto olderShim = h.submit();
  auto goClosed = h.submit();
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 4u);
  auto r = h.runner.result(inResult, 1);
  r.setSpawnFailed(true);
  r.setExitCode(126);
  r.setMessage("taskctl-exec refused the command: an argument of the spec holds a NUL byte");
  auto s = h.runner.exitStatusOutcome(1);
  s.setSpawnFailed(true);
  s.setExitCode(126);
  s.setMessage("the command could not be started (the shim's result file was lost)");
  auto o = h.runner.result(olderShim, 1);
  o.setNotStarted(true);
  o.setMessage("an argument of the spec holds a NUL byte");
  h.runner.result(goClosed, 1).setNotStarted(true);
  for (size_t i = 0; i < 4; i++) h.runner.vanish(i);
  h.settle();
  for (auto id : {inResult, inStatus, olderShim}) {
    auto record = h.record(id);
    auto task = record->get();
    EXPECT_EQ(task.getState(), TaskState::FAILED) << id;
    EXPECT_EQ(task.getReason(), EndReason::SPAWN) << id;
    EXPECT_EQ(task.getAttempts(), 1u) << id;
    EXPECT_EQ(h.exitStatus(id), 126) << id;
  }
  EXPECT_STREQ(h.record(inResult)->get().getMessage().cStr(),
               "taskctl-exec refused the command: an argument of the spec holds a NUL byte");
  EXPECT_STREQ(h.record(olderShim)->get().getMessage().cStr(),
               "an argument of the spec holds a NUL byte");
  // Only the go-fd case runs again.
  ASSERT_EQ(h.runner.launched.size(), 5u);
  EXPECT_EQ(h.runner.launched[4].taskId, goClosed);
  EXPECT_EQ(h.runner.launched[4].attempt, 2u);
}

TEST(Scheduler, DropsLoaderAndNotifyVariablesFromTheSubmittedEnvironment) {
  SchedulerHarness h(anyPriority());
  kj::StringPtr env[] = {"PATH=/bin",         "LD_PRELOAD=/evil.so", "NOTIFY_SOCKET=/x",
                         "WATCHDOG_USEC=5",   "HOME=/home/a",        "LISTEN_FDS=1",
                         "JOURNAL_STREAM=1:2"};
  auto id = h.submit([&](auto r) {
    auto e = r.initEnv(kj::size(env));
    for (auto i : kj::indices(env)) e.set(i, env[i].asBytes());
  });
  auto record = h.record(id);
  auto stored = record->get().getEnv();
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(kj::str(stored[0].asChars()), "PATH=/bin");
  EXPECT_EQ(kj::str(stored[1].asChars()), "HOME=/home/a");
}

TEST(Scheduler, CancelsAQueuedTaskAtOnce) {
  SchedulerHarness h(anyPriority(1));
  h.submit();
  auto queued = h.submit();
  auto done = h.scheduler->whenTerminal(queued);
  h.scheduler->cancel(queued).wait(h.waitScope);
  EXPECT_TRUE(done.poll(h.waitScope));
  EXPECT_EQ(h.state(queued), TaskState::CANCELLED);
  EXPECT_EQ(h.exitStatus(queued), 130);
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 1u);
}

TEST(Scheduler, CancelOfARunningTaskTermsThenKillsAfterTheGrace) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit();
  h.settle();
  h.scheduler->cancel(id).wait(h.waitScope);
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  h.timer.advanceTo(h.timer.now() + 11 * kj::SECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGKILL);
  h.runner.result(id, 1).setSignal(SIGKILL);
  h.runner.launched[0].exit->fulfill();
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::CANCELLED);
  EXPECT_EQ(h.exitStatus(id), 130);
}

TEST(Scheduler, TimesOutWithTermThenKillAndKeepsTheReason) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit([](auto r) {
    r.getLimits().setTimeoutUsec(2000000);
    r.getLimits().setKillGraceUsec(1000000);
  });
  h.settle();
  KJ_IF_MAYBE (attempt, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*attempt)->get().getUnit(), "fake-1-1");  // recorded before the unit exists
  } else {
    FAIL();
  }
  h.timer.advanceTo(h.timer.now() + 1999 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  h.timer.advanceTo(h.timer.now() + 2 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  h.timer.advanceTo(h.timer.now() + 1 * kj::SECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGKILL);
  h.runner.killed(0, SIGKILL);
  h.settle();
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::TIMEOUT);
  EXPECT_EQ(h.exitStatus(id), 124);
}

TEST(Scheduler, AnOomKillIsItsOwnReason) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit([](auto r) { r.getLimits().setMemoryMaxBytes(20 << 20); });
  h.settle();
  h.runner.killed(0, SIGKILL, 1);
  h.settle();
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::OOM);
  EXPECT_EQ(h.exitStatus(id), 137);
  EXPECT_EQ(kj::str(h.record(id)->get().getMessage()), "killed for memory (limit 20M)");
}

TEST(Scheduler, QueueDefaultsApplyAndSubmitOptionsWin) {
  SchedulerHarness h(anyPriority(1));
  h.config.queues[1].memoryMaxBytes = 64 << 20;
  h.config.queues[1].timeoutUsec = 60000000;
  h.scheduler->reloadQueues(h.config);
  auto byDefault = h.submit([](auto r) { r.setQueue("batch"); });
  auto own = h.submit([](auto r) {
    r.setQueue("batch");
    r.getLimits().setMemoryMaxBytes(32 << 20);
  });
  EXPECT_EQ(h.record(byDefault)->get().getLimits().getMemoryMaxBytes(), 64u << 20);
  EXPECT_EQ(h.record(byDefault)->get().getLimits().getTimeoutUsec(), 60000000u);
  EXPECT_EQ(h.record(own)->get().getLimits().getMemoryMaxBytes(), 32u << 20);
  EXPECT_NE(h.submitError([](auto r) {
               r.initArgv(1).set(0, "x"_kj.asBytes());
               r.getLimits().setMemoryMaxBytes(1000);
             }).find("memory limit is under 1M"),
            std::string::npos);
}

TEST(Scheduler, ALostAttemptHasWhatRemainsOfItStopped) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit();
  h.settle();
  h.runner.vanish(0);
  h.settle();
  ASSERT_EQ(h.runner.stopped.size(), 1u);
  EXPECT_EQ(h.runner.stopped[0].first, id);
}

TEST(Scheduler, ProgressAndStatusShowLiveAndHeartbeatsKeepItAlive) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit([](auto r) { r.getLimits().setHeartbeatUsec(2000000); });
  h.settle();
  auto path = kj::str("/fake/notify/", id, "-1");
  KJ_IF_MAYBE (attempt, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*attempt)->get().getNotifySocket(), path);
  } else {
    FAIL();
  }
  h.timer.advanceTo(h.timer.now() + 1500 * kj::MILLISECONDS);
  h.settle();
  ASSERT_TRUE(
      h.notify.send(path, notice([](auto& n) { n.status = kj::str("half"), n.progress = 0.5; })));
  KJ_IF_MAYBE (live, h.scheduler->liveAttempt(id)) {
    EXPECT_EQ(live->getProgress(), 0.5);
    EXPECT_EQ(live->getStatusText(), "half");
  } else {
    FAIL();
  }
  // 1.5 s after the notice: still alive (the notice re-armed the heartbeat).
  h.timer.advanceTo(h.timer.now() + 1500 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  // Then silence past the heartbeat: TERM, and the reason is heartbeat.
  h.timer.advanceTo(h.timer.now() + 600 * kj::MILLISECONDS);
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  h.runner.killed(0, SIGTERM);
  h.settle();
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::HEARTBEAT);
  EXPECT_EQ(h.exitStatus(id), 124);
  KJ_IF_MAYBE (attempt, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*attempt)->get().getProgress(), 0.5);  // kept with the attempt
    EXPECT_EQ((*attempt)->get().getStatusText(), "half");
  } else {
    FAIL();
  }
  EXPECT_FALSE(h.notify.send(path, notice([](auto& n) { n.watchdog = true; })));  // closed
}

// Heartbeats (docs/cli.md): every datagram from the task is a sign of life;
// WATCHDOG=trigger ends the attempt as a missed heartbeat; EXTEND_TIMEOUT_USEC=
// moves the --timeout deadline and nothing else.

TEST(Scheduler, AnyDatagramKeepsATaskAliveNotOnlyWatchdog) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit([](auto r) { r.getLimits().setHeartbeatUsec(1000000); });
  h.settle();
  auto path = kj::str("/fake/notify/", id, "-1");
  // READY=1 (or BARRIER=1, EXTEND_TIMEOUT_USEC=...): no field the scheduler
  // keeps, an empty notice, every 0.5 s for 5 s.
  for (int i = 0; i < 10; i++) {
    h.advance(500 * kj::MILLISECONDS);
    ASSERT_TRUE(h.notify.send(path, AttemptNotice{}));
    h.settle();
  }
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0) << "a task sending READY=1 was taken for silent";
  h.advance(1001 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  h.runner.killed(0, SIGTERM);
  h.settle();
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::HEARTBEAT);
  EXPECT_EQ(h.message(id), "no heartbeat for 1s");
}

TEST(Scheduler, WatchdogTriggerEndsTheAttemptAtOnceAsAHeartbeatAndIsRetriedAsOne) {
  SchedulerHarness h(anyPriority(1));
  // No --heartbeat: the trigger works without one, as in systemd.
  auto id = h.submit([](auto r) {
    r.getLimits().setKillGraceUsec(1000000);
    auto policy = r.initRetry();
    policy.setRetries(1);
    policy.setOnHeartbeat(true);
  });
  h.settle();
  // With a status in the same datagram (as `systemd-notify --status=stuck
  // WATCHDOG=trigger` sends it): the status is kept.
  ASSERT_TRUE(h.notify.send(kj::str("/fake/notify/", id, "-1"), notice([](auto& n) {
                              n.watchdogTrigger = true;
                              n.status = kj::str("stuck");
                            })));
  h.settle();
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM) << "not stopped at once";
  // TERM, grace, KILL, as for a missed heartbeat.
  h.advance(1 * kj::SECONDS);
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGKILL);
  h.runner.killed(0, SIGKILL);
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::RETRYING);
  KJ_IF_MAYBE (attempt, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*attempt)->get().getReason(), EndReason::HEARTBEAT);
    EXPECT_EQ(kj::str((*attempt)->get().getMessage()),
              "the task asked to be stopped (WATCHDOG=trigger)");
    EXPECT_EQ((*attempt)->get().getStatusText(), "stuck");
  } else {
    FAIL();
  }
  h.advance(2 * kj::SECONDS);  // the backoff: at most 1 s
  ASSERT_EQ(h.runner.launched.size(), 2u);
  // The second attempt triggers too: no retry left, it fails `heartbeat`, 124.
  ASSERT_TRUE(h.notify.send(kj::str("/fake/notify/", id, "-2"),
                            notice([](auto& n) { n.watchdogTrigger = true; })));
  h.settle();
  EXPECT_EQ(h.runner.launched[1].lastSignal, SIGTERM);
  h.runner.killed(1, SIGTERM);
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::FAILED);
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::HEARTBEAT);
  EXPECT_EQ(h.exitStatus(id), 124);
}

TEST(Scheduler, ExtendTimeoutMovesTheDeadlineLaterButNeverSooner) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit([](auto r) {
    r.getLimits().setTimeoutUsec(2000000);
    r.getLimits().setKillGraceUsec(1000000);
  });
  h.settle();
  auto path = kj::str("/fake/notify/", id, "-1");
  h.advance(500 * kj::MILLISECONDS);
  // 0.1 s from now is sooner than the deadline: nothing changes.
  ASSERT_TRUE(h.notify.send(path, notice([](auto& n) { n.extendTimeoutUsec = uint64_t(100000); })));
  h.settle();
  h.advance(1000 * kj::MILLISECONDS);  // at 1.5 s
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0) << "the extension shortened the timeout";
  // 3 s from now: the deadline is 4.5 s from the start.
  ASSERT_TRUE(
      h.notify.send(path, notice([](auto& n) { n.extendTimeoutUsec = uint64_t(3000000); })));
  h.settle();
  // A later, shorter extension does not take it back.
  h.advance(1000 * kj::MILLISECONDS);  // at 2.5 s
  ASSERT_TRUE(
      h.notify.send(path, notice([](auto& n) { n.extendTimeoutUsec = uint64_t(1000000); })));
  h.settle();
  h.advance(1999 * kj::MILLISECONDS);  // at 4.499 s
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0) << "killed before the extended deadline";
  h.advance(2 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
  h.runner.killed(0, SIGTERM);
  h.settle();
  EXPECT_EQ(h.record(id)->get().getReason(), EndReason::TIMEOUT);
  EXPECT_EQ(h.message(id), "timed out after 4.5s (--timeout 2s, extended by the task)");
  EXPECT_EQ(h.exitStatus(id), 124);
}

TEST(Scheduler, ExtendTimeoutWithoutATimeoutDoesNothingAndNeverTouchesTheHeartbeat) {
  SchedulerHarness h(anyPriority(2));
  auto untimed = h.submit();
  auto beating = h.submit([](auto r) {
    r.getLimits().setTimeoutUsec(60000000);
    r.getLimits().setHeartbeatUsec(1000000);
  });
  h.settle();
  ASSERT_TRUE(h.notify.send(kj::str("/fake/notify/", untimed, "-1"),
                            notice([](auto& n) { n.extendTimeoutUsec = uint64_t(1000000); })));
  // The datagram is a heartbeat (any datagram is); its extension is not a
  // longer heartbeat: silence 1 s after it still ends the task.
  ASSERT_TRUE(h.notify.send(kj::str("/fake/notify/", beating, "-1"),
                            notice([](auto& n) { n.extendTimeoutUsec = uint64_t(600000000); })));
  h.settle();
  h.advance(1001 * kj::MILLISECONDS);
  EXPECT_EQ(h.runner.launched[h.indexOf(beating)].lastSignal, SIGTERM);
  h.runner.killed(h.indexOf(beating), SIGTERM);
  h.advance(10 * kj::MINUTES);
  EXPECT_EQ(h.runner.launched[h.indexOf(untimed)].lastSignal, 0) << "an extension made a timeout";
  EXPECT_EQ(h.record(beating)->get().getReason(), EndReason::HEARTBEAT);
}

TEST(Scheduler, ExtendTimeoutStopsAtTheLongestTimeoutATaskMayHave) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit([](auto r) { r.getLimits().setTimeoutUsec(1000000); });
  h.settle();
  ASSERT_TRUE(h.notify.send(kj::str("/fake/notify/", id, "-1"),
                            notice([](auto& n) { n.extendTimeoutUsec = UINT64_MAX; })));
  h.settle();
  h.advance(MAX_TIMEOUT_USEC * kj::MICROSECONDS - 1 * kj::SECONDS);
  EXPECT_EQ(h.runner.launched[0].lastSignal, 0);
  h.advance(2 * kj::SECONDS);
  EXPECT_EQ(h.runner.launched[0].lastSignal, SIGTERM);
}

// KJ_LOG lines, captured.
class LogLines final : public kj::ExceptionCallback {
 public:
  void logMessage(kj::LogSeverity severity, const char* file, int line, int contextDepth,
                  kj::String&& text) override {
    lines.add(kj::str(text));
    ExceptionCallback::logMessage(severity, file, line, contextDepth, kj::mv(text));
  }
  size_t saying(kj::StringPtr words) const {
    size_t n = 0;
    for (auto& line : lines) n += strstr(line.cStr(), words.cStr()) != nullptr;
    return n;
  }
  kj::Vector<kj::String> lines;
};

TEST(Scheduler, AMalformedProgressIsLoggedOncePerAttemptWithTheTaskId) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit([](auto r) {
    auto policy = r.initRetry();
    policy.setRetries(1);
    policy.setOnExit(true);
  });
  h.settle();
  LogLines log;
  auto path = kj::str("/fake/notify/", id, "-1");
  for (int i = 0; i < 3; i++) {
    ASSERT_TRUE(
        h.notify.send(path, notice([](auto& n) { n.malformedProgress = kj::str("half"); })));
  }
  h.settle();
  ASSERT_EQ(log.saying("X_TASKCTL_PROGRESS="), 1u);
  for (auto& line : log.lines) {
    if (strstr(line.cStr(), "X_TASKCTL_PROGRESS=") == nullptr) continue;
    EXPECT_NE(strstr(line.cStr(), kj::str("id = ", id).cStr()), nullptr) << line.cStr();
    EXPECT_NE(strstr(line.cStr(), "half"), nullptr) << line.cStr();
  }
  KJ_IF_MAYBE (live, h.scheduler->liveAttempt(id)) {
    EXPECT_EQ(live->getProgress(), -1);  // dropped, not taken as some value
  } else {
    FAIL();
  }
  // The next attempt logs its own once.
  h.exit(id, 1);
  h.advance(2 * kj::SECONDS);
  ASSERT_EQ(h.runner.launched.size(), 2u);
  ASSERT_TRUE(h.notify.send(kj::str("/fake/notify/", id, "-2"),
                            notice([](auto& n) { n.malformedProgress = kj::str("x"); })));
  h.settle();
  EXPECT_EQ(log.saying("X_TASKCTL_PROGRESS="), 2u);
}

TEST(Scheduler, RequeuesStartingAttemptsOnRecovery) {
  SchedulerHarness h(anyPriority(1));
  h.runner.failStarts = true;  // hold nothing; we craft the stored state below
  auto id = h.store->allocateId();
  {
    capnp::MallocMessageBuilder message;
    auto task = message.initRoot<records::Task>();
    task.setId(id);
    task.setQueue("default");
    task.initArgv(1).set(0, "x"_kj.asBytes());
    task.setState(TaskState::STARTING);
    task.setAttempts(1);
    h.store->putTask(task);
    capnp::MallocMessageBuilder a;
    auto attempt = a.initRoot<records::Attempt>();
    attempt.setTaskId(id);
    attempt.setNumber(1);
    attempt.setState(TaskState::STARTING);
    h.store->putAttempt(attempt);
    h.store->commit();
  }
  h.runner.failStarts = false;
  h.restart();
  ASSERT_EQ(h.runner.launched.size(), 1u);
  EXPECT_EQ(h.runner.launched[0].attempt, 2u);
  KJ_IF_MAYBE (first, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*first)->get().getReason(), EndReason::NOT_STARTED);
  } else {
    FAIL();
  }
}

TEST(Scheduler, RecoveryIngestsAResultWrittenWhileTheDaemonWasDown) {
  SchedulerHarness h(anyPriority(1));
  auto id = h.submit();
  h.settle();
  ASSERT_TRUE(h.runner.launched[0].went);
  h.runner.result(id, 1).setExitCode(7);  // the shim finished while we were down
  h.restart();
  EXPECT_EQ(h.state(id), TaskState::FAILED);
  EXPECT_EQ(h.exitStatus(id), 7);
  EXPECT_EQ(h.runner.launched.size(), 1u);  // never run again
}

TEST(Scheduler, RecoveryReadoptsALiveExecutionAndMarksAVanishedOneLost) {
  SchedulerHarness h(anyPriority(2));
  auto live = h.submit();
  auto gone = h.submit();
  h.settle();
  h.runner.adoptable = std::make_pair(live, uint32_t(1));
  h.restart();
  EXPECT_EQ(h.state(gone), TaskState::FAILED);
  EXPECT_EQ(h.record(gone)->get().getReason(), EndReason::LOST);
  EXPECT_EQ(h.state(live), TaskState::RUNNING);
  ASSERT_EQ(h.runner.launched.size(), 3u);  // 2 launched, 1 adopted
  h.runner.exit(2, 0);
  h.settle();
  EXPECT_EQ(h.state(live), TaskState::SUCCEEDED);
}

TEST(Scheduler, DispatchWaitsWhileTheRunnerIsUnavailable) {
  // The scope runner with the system bus gone: nothing fails as `spawn`.
  SchedulerHarness h(anyPriority(2));
  h.runner.unavailable = true;
  auto id = h.submit();
  h.settle();
  EXPECT_EQ(h.runner.launched.size(), 0u);
  EXPECT_EQ(h.state(id), TaskState::QUEUED);
  h.runner.setAvailable();
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 1u);
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
}

TEST(Scheduler, AStartCutOffByTheBusGoesBackToTheQueue) {
  SchedulerHarness h(anyPriority(1));
  h.runner.disconnectStarts = true;
  auto id = h.submit();
  h.runner.unavailable = true;  // as the scope runner is once its bus broke
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::QUEUED);
  KJ_IF_MAYBE (first, h.store->getAttempt(id, 1)) {
    EXPECT_EQ((*first)->get().getReason(), EndReason::NOT_STARTED);
  } else {
    FAIL() << "attempt 1 was not recorded";
  }
  h.runner.disconnectStarts = false;
  h.runner.setAvailable();
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::RUNNING);
  ASSERT_EQ(h.runner.launched.size(), 1u);
  EXPECT_EQ(h.runner.launched[0].attempt, 2u);
}

TEST(Scheduler, EveryStateChangeIsAnEventInOrder) {
  SchedulerHarness h(anyPriority(1));
  struct Recorder final : public EventListener {
    kj::Vector<kj::String> lines;
    uint64_t lastSeq = 0;
    bool ordered = true;
    void onEvent(records::Event::Reader e) override {
      ordered = ordered && e.getSeq() == lastSeq + 1;
      lastSeq = e.getSeq();
      lines.add(kj::str(e.getTaskId(), " ", e.getCreated() ? "new"_kj : stateName(e.getFrom()), ">",
                        stateName(e.getTo()), " ", e.getAttempt(), " ", reasonName(e.getReason())));
    }
    void onProgress(uint64_t, uint32_t, uint32_t, double) override {}
  } recorder;
  auto subscription = h.events->subscribe(recorder);
  auto id = h.submit([](spec::TaskSpec::Builder t) { t.initRetry().setRetries(1); });
  h.settle();
  h.runner.exit(0, 3);
  h.settle();
  h.timer.advanceTo(h.timer.now() + 20 * kj::MINUTES);
  h.clock.time = h.clock.time + 20 * kj::MINUTES;
  h.settle();
  h.runner.exit(1, 0);
  h.settle();
  auto expected =
      kj::str(id, " new>queued 0 |", id, " queued>starting 1 |", id, " starting>running 1 |", id,
              " running>retrying 1 exit|", id, " retrying>queued 1 |", id, " queued>starting 2 |",
              id, " starting>running 2 |", id, " running>succeeded 2 exit|");
  EXPECT_EQ(kj::str(kj::strArray(recorder.lines, "|"), "|"), expected);
  EXPECT_TRUE(recorder.ordered);
}

// DESIGN 11: a million stored tasks, queued or finished, open under 64 MiB.
// A task that waits in a queue keeps a summary of what dispatch needs, not
// its record (read again from the store when it starts): measured on the
// heap after a batch of submits and after an open, with records the size a
// client's environment makes them.
TEST(Scheduler, AQueuedTaskCostsASummaryNotItsRecord) {
  constexpr size_t N = 10000;
  // Bytes per queued task (the record alone is ~2 KiB). After an open: the
  // 40-byte summary inline in `active` and 8 bytes of id in a ready list (189
  // when each summary was a malloc chunk and a std::map node). After the
  // submits also what the event log keeps of them (254 then, 111 now).
  constexpr size_t OPEN_BOUND = 64, SUBMIT_BOUND = 128;
  SchedulerHarness h(anyPriority(1));
  h.submit();  // takes the one slot: the rest stay queued
  h.settle();
  auto heap = []() { return mallinfo2().uordblks; };
  kj::Vector<kj::String> env;
  for (int i = 0; i < 30; i++) env.add(kj::str("VARIABLE_", i, "=", kj::repeat('v', 48)));
  size_t before = heap();
  kj::Vector<uint64_t> ids;
  // In commits of 100, as a busy client's submits come: one commit of all
  // of them would measure LMDB's cache of dirty pages, kept for the next.
  for (size_t batch = 0; batch < N; batch += 100) {
    kj::Vector<kj::Promise<uint64_t>> submits;
    for (size_t i = batch; i < batch + 100; i++) {
      capnp::MallocMessageBuilder message;
      auto request = message.initRoot<spec::TaskSpec>();
      auto argv = request.initArgv(3);
      argv.set(0, "sh"_kj.asBytes());
      argv.set(1, "-c"_kj.asBytes());
      argv.set(2, kj::str("echo task ", i).asBytes());
      request.setPriority(i % 7);
      auto e = request.initEnv(env.size());
      for (auto j : kj::indices(env)) e.set(j, env[j].asBytes());
      request.setCwd("/var/lib/something/else"_kj.asBytes());
      submits.add(h.scheduler->submit(request, h.alice));
    }
    ids.addAll(kj::joinPromises(submits.releaseAsArray()).wait(h.waitScope));
  }
  h.settle();
  ASSERT_EQ(h.scheduler->counts().queued, N);
  size_t afterSubmits = heap();
  EXPECT_LT(afterSubmits - kj::min(before, afterSubmits), N * SUBMIT_BOUND)
      << (afterSubmits - before) / N << " bytes per queued task after submitting";

  // An open: everything the scheduler holds is the recovery's.
  h.close();
  h.open();
  size_t opened = heap();
  h.scheduler->recover();
  h.settle();
  ASSERT_EQ(h.scheduler->counts().queued, N);
  size_t recovered = heap();
  EXPECT_LT(recovered - kj::min(opened, recovered), N * OPEN_BOUND)
      << (recovered - opened) / N << " bytes per queued task after an open";

  // They still run in dispatch order (priority 6 first, then by id), each
  // starting with its whole record, read from the store.
  h.scheduler->start();
  h.settle();
  ASSERT_EQ(h.runner.launched.size(), 2u);
  EXPECT_EQ(h.runner.launched[1].taskId, ids[6]);
  EXPECT_TRUE(h.runner.launched[1].went);
  auto record = h.record(ids[6]);
  auto started = record->get();
  EXPECT_EQ(started.getState(), TaskState::RUNNING);
  EXPECT_EQ(started.getEnv().size(), 30u);
  EXPECT_EQ(kj::str(started.getArgv()[2].asChars()), "echo task 6");
}

// The ready order keeps ids per priority level; a cancelled queued task is
// only counted out and skipped when reached, and a mass cancel compacts it.
TEST(Scheduler, CancelledQueuedTasksAreSkippedInDispatchOrder) {
  SchedulerHarness h(anyPriority(1));
  h.submit();  // takes the one slot
  h.settle();
  constexpr size_t N = 6000;
  kj::Vector<uint64_t> ids;
  for (size_t batch = 0; batch < N; batch += 500) {
    kj::Vector<kj::Promise<uint64_t>> submits;
    for (size_t i = batch; i < batch + 500; i++) {
      capnp::MallocMessageBuilder message;
      auto request = message.initRoot<spec::TaskSpec>();
      request.initArgv(1).set(0, "true"_kj.asBytes());
      request.setPriority(i % 3);  // 0, 1, 2, 0, 1, 2, ...
      submits.add(h.scheduler->submit(request, h.alice));
    }
    ids.addAll(kj::joinPromises(submits.releaseAsArray()).wait(h.waitScope));
  }
  h.settle();
  // Cancel every priority-2 task but the last, and the first priority-1 one:
  // over 4096 cancelled, so the list is compacted on the way.
  kj::Vector<kj::Promise<void>> cancels;
  for (size_t i = 2; i + 3 < N; i += 3) cancels.add(h.scheduler->cancel(ids[i]));
  cancels.add(h.scheduler->cancel(ids[1]));
  kj::joinPromises(cancels.releaseAsArray()).wait(h.waitScope);
  h.settle();
  EXPECT_EQ(h.scheduler->counts().queued, N - N / 3);
  EXPECT_EQ(h.state(ids[2]), TaskState::CANCELLED);
  // Next: the one priority-2 task left, then priority 1 from its second.
  uint64_t expected[] = {ids[N - 1], ids[4], ids[7]};
  for (size_t k = 0; k < 3; k++) {
    h.runner.exit(h.runner.launched.size() - 1, 0);
    h.settle();
    EXPECT_EQ(h.runner.launched.back().taskId, expected[k]) << k;
  }
  EXPECT_EQ(h.scheduler->counts().queued, N - N / 3 - 3);
}

// A follower of an attempt's log (`logs --follow`) hears of its end also
// when the attempt never started: the bus went away mid-start.
TEST(Scheduler, AFollowerOfAnAttemptCutOffBeforeItStartedHearsOfItsEnd) {
  SchedulerHarness h(anyPriority(1));
  h.runner.holdStarts = true;
  auto id = h.submit();
  h.settle();
  ASSERT_EQ(h.runner.heldStarts.size(), 1u);
  ASSERT_TRUE(h.scheduler->attemptLive(id, 1));
  auto ended = h.scheduler->whenAttemptEnds(id, 1);
  h.runner.unavailable = true;  // as the scope runner is once its bus broke
  h.runner.heldStarts[0]->reject(KJ_EXCEPTION(DISCONNECTED, "the system bus went away"));
  h.settle();
  EXPECT_EQ(h.state(id), TaskState::QUEUED);
  ASSERT_TRUE(ended.poll(h.waitScope));
  ended.wait(h.waitScope);  // resolves: not an error, not the next attempt's end
}

}  // namespace
}  // namespace taskctl
