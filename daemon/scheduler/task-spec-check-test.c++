#include "scheduler/task-spec-check.h"

#include <capnp/message.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/function.h>

#include <limits>
#include <string>

namespace taskctl {
namespace {

// A valid spec (`true`), changed by `fill`; the refusal's text, "" if none.
std::string refusalOf(kj::Function<void(spec::TaskSpec::Builder)> fill) {
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<spec::TaskSpec>();
  request.initArgv(1).set(0, "true"_kj.asBytes());
  fill(request);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { checkTaskSpec(request.asReader()); })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::FAILED);
    return e->getDescription().cStr();
  }
  return "";
}

kj::Array<kj::byte> bytes(size_t n, char c = 'x') {
  auto a = kj::heapArray<kj::byte>(n);
  memset(a.begin(), c, n);
  return a;
}

TEST(TaskSpecCheck, TakesAPlainCommand) {
  EXPECT_EQ(refusalOf([](auto) {}), "");
}

TEST(TaskSpecCheck, RefusesEachFieldOutsideTheContract) {
  struct Case {
    const char* expected;
    kj::Function<void(spec::TaskSpec::Builder)> fill;
  };
  Case cases[] = {
      {"empty command", [](auto r) { r.initArgv(0); }},
      {"empty command", [](auto r) { r.initArgv(1).set(0, kj::ArrayPtr<const kj::byte>()); }},
      {"argv[1] holds a NUL byte",
       [](auto r) {
         auto argv = r.initArgv(2);
         argv.set(0, "echo"_kj.asBytes());
         argv.set(1, kj::arrayPtr(reinterpret_cast<const kj::byte*>("a\0b"), 3));
       }},
      {"environment entry 0 holds a NUL byte",
       [](auto r) {
         r.initEnv(1).set(0, kj::arrayPtr(reinterpret_cast<const kj::byte*>("A=\0"), 3));
       }},
      {"environment entry 1 is not NAME=VALUE",
       [](auto r) {
         auto env = r.initEnv(2);
         env.set(0, "A=1"_kj.asBytes());
         env.set(1, "NOEQUALS"_kj.asBytes());
       }},
      {"command and environment are",
       [](auto r) {
         auto entry = bytes(spec::MAX_COMMAND_BYTES);
         entry[1] = '=';
         r.initEnv(1).set(0, entry);
       }},
      {"cwd is 4096 bytes", [](auto r) { r.setCwd(bytes(4096, '/')); }},
      {"cwd holds a NUL byte",
       [](auto r) { r.setCwd(kj::arrayPtr(reinterpret_cast<const kj::byte*>("/a\0"), 3)); }},
      {"is not an absolute path", [](auto r) { r.setCwd("tmp"_kj.asBytes()); }},
      {"queue name is over 256 bytes",
       [](auto r) { r.setQueue(kj::heapString(bytes(257).asChars())); }},
      {"priority 101 is out of range", [](auto r) { r.setPriority(spec::MAX_PRIORITY + 1); }},
      {"priority -101 is out of range", [](auto r) { r.setPriority(spec::MIN_PRIORITY - 1); }},
      {"65 labels; the limit is 64",
       [](auto r) {
         auto labels = r.initLabels(spec::MAX_LABELS + 1);
         for (auto i : kj::indices(labels)) labels[i].setKey(kj::str("k", i));
       }},
      {"label key of 129 bytes",
       [](auto r) { r.initLabels(1)[0].setKey(kj::heapString(bytes(129).asChars())); }},
      {"invalid label key \"a=b\"", [](auto r) { r.initLabels(1)[0].setKey("a=b"); }},
      {"invalid label key \"\"", [](auto r) { r.initLabels(1)[0].setKey(""); }},
      {"label k: value of 1025 bytes",
       [](auto r) {
         auto label = r.initLabels(1)[0];
         label.setKey("k");
         label.setValue(kj::heapString(bytes(1025).asChars()));
       }},
      {"retries 1001 is over 1000",
       [](auto r) { r.initRetry().setRetries(spec::MAX_RETRIES + 1); }},
      {"backoff maximum is below its base",
       [](auto r) {
         auto p = r.initRetry();
         p.setBackoffBaseUsec(2000000);
         p.setBackoffMaxUsec(1000000);
       }},
      {"backoff is over a year",
       [](auto r) { r.initRetry().setBackoffBaseUsec(400ull * 86400 * 1000000); }},
      {"256 retry exit codes",
       [](auto r) { r.initRetry().initExitCodes(spec::MAX_RETRY_EXIT_CODES + 1); }},
      {"retry exit code 256 is not in 1..255",
       [](auto r) { r.initRetry().initExitCodes(1).set(0, 256); }},
      {"retry exit code 0 is not in 1..255",
       [](auto r) { r.initRetry().initExitCodes(1).set(0, 0); }},
      {"1001 dependencies; the limit is 1000",
       [](auto r) { r.initAfter(spec::MAX_DEPENDENCIES + 1); }},
      {"key is over 256 bytes",
       [](auto r) { r.setKey(kj::heapString(bytes(spec::MAX_KEY_BYTES + 1).asChars())); }},
      {"request id is over 256 bytes",
       [](auto r) { r.setRequestId(kj::heapString(bytes(spec::MAX_KEY_BYTES + 1).asChars())); }},
      {"the task is 3",  // over 2 MiB in all: refused before any field is looked at
       [](auto r) { r.setCwd(bytes(3 << 20, '/')); }},
  };
  for (auto& c : cases) {
    auto refusal = refusalOf(kj::mv(c.fill));
    EXPECT_NE(refusal.find(c.expected), std::string::npos)
        << "expected \"" << c.expected << "\", got \"" << refusal << "\"";
  }
}

TEST(TaskSpecCheck, TakesTheBoundsThemselves) {
  EXPECT_EQ(refusalOf([](auto r) {
              r.setPriority(spec::MAX_PRIORITY);
              r.setCwd("/tmp"_kj.asBytes());
              r.setKey(kj::heapString(bytes(spec::MAX_KEY_BYTES).asChars()));
              r.setRequestId(kj::heapString(bytes(spec::MAX_KEY_BYTES).asChars()));
              auto retry = r.initRetry();
              retry.setRetries(spec::MAX_RETRIES);
              auto codes = retry.initExitCodes(spec::MAX_RETRY_EXIT_CODES);
              for (auto i : kj::indices(codes)) codes.set(i, i + 1);
              r.initAfter(spec::MAX_DEPENDENCIES);
              auto labels = r.initLabels(spec::MAX_LABELS);
              for (auto i : kj::indices(labels)) labels[i].setKey(kj::str("k", i));
            }),
            "");
}

// Limits: what `asked` gives, each 0 meaning the queue's.
struct Resolved {
  capnp::MallocMessageBuilder message;
  spec::TaskLimits::Reader limits;
  std::string refusal;
};
kj::Own<Resolved> resolve(kj::Function<void(spec::TaskLimits::Builder)> ask,
                          const QueueConfig& queue) {
  auto r = kj::heap<Resolved>();
  capnp::MallocMessageBuilder asked;
  auto a = asked.initRoot<spec::TaskLimits>();
  ask(a);
  auto out = r->message.initRoot<spec::TaskLimits>();
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { resolveLimits(a.asReader(), queue, out); })) {
    r->refusal = e->getDescription().cStr();
  }
  r->limits = out.asReader();
  return r;
}

TEST(TaskSpecCheck, LimitsAreTheTasksElseTheQueuesAndTheKillGraceIsNeverZero) {
  QueueConfig none{kj::str("default"), 1};
  auto bare = resolve([](auto) {}, none);
  EXPECT_EQ(bare->refusal, "");
  EXPECT_EQ(bare->limits.getTimeoutUsec(), 0u);
  EXPECT_EQ(bare->limits.getKillGraceUsec(), spec::DEFAULT_KILL_GRACE_USEC);
  EXPECT_EQ(bare->limits.getKillGraceUsec(), 10000000u);
  EXPECT_EQ(bare->limits.getHeartbeatUsec(), 0u);
  EXPECT_EQ(bare->limits.getCpuQuotaPerSecUsec(), 0u);
  EXPECT_EQ(bare->limits.getMemoryMaxBytes(), 0u);
  EXPECT_EQ(bare->limits.getTasksMax(), 0u);

  QueueConfig queue{kj::str("batch"), 1};
  queue.timeoutUsec = 60000000;
  queue.killGraceUsec = 5000000;
  queue.heartbeatUsec = 30000000;
  queue.cpuQuotaPerSecUsec = 500000;
  queue.memoryMaxBytes = 64 << 20;
  queue.tasksMax = 100;
  auto byQueue = resolve([](auto) {}, queue);
  EXPECT_EQ(byQueue->limits.getTimeoutUsec(), 60000000u);
  EXPECT_EQ(byQueue->limits.getKillGraceUsec(), 5000000u);
  EXPECT_EQ(byQueue->limits.getHeartbeatUsec(), 30000000u);
  EXPECT_EQ(byQueue->limits.getCpuQuotaPerSecUsec(), 500000u);
  EXPECT_EQ(byQueue->limits.getMemoryMaxBytes(), 64u << 20);
  EXPECT_EQ(byQueue->limits.getTasksMax(), 100u);

  auto own = resolve(
      [](auto l) {
        l.setTimeoutUsec(2000000);
        l.setKillGraceUsec(1000000);
        l.setMemoryMaxBytes(32 << 20);
      },
      queue);
  EXPECT_EQ(own->limits.getTimeoutUsec(), 2000000u);
  EXPECT_EQ(own->limits.getKillGraceUsec(), 1000000u);
  EXPECT_EQ(own->limits.getMemoryMaxBytes(), 32u << 20);
  EXPECT_EQ(own->limits.getHeartbeatUsec(), 30000000u);  // not asked: the queue's
  EXPECT_EQ(own->limits.getTasksMax(), 100u);
}

TEST(TaskSpecCheck, RefusesALimitInForceOutOfRangeWhicheverSideGaveIt) {
  QueueConfig none{kj::str("default"), 1};
  struct Case {
    const char* expected;
    kj::Function<void(spec::TaskLimits::Builder)> ask;
  };
  Case cases[] = {
      {"timeout is over a year", [](auto l) { l.setTimeoutUsec(400ull * 86400 * 1000000); }},
      {"kill grace is over an hour",
       [](auto l) { l.setKillGraceUsec(spec::MAX_KILL_GRACE_USEC + 1); }},
      {"heartbeat is under 100ms", [](auto l) { l.setHeartbeatUsec(99999); }},
      {"heartbeat is over a year", [](auto l) { l.setHeartbeatUsec(400ull * 86400 * 1000000); }},
      {"memory limit is under 1M", [](auto l) { l.setMemoryMaxBytes(1000); }},
      {"cpu quota is under 1%", [](auto l) { l.setCpuQuotaPerSecUsec(9999); }},
  };
  for (auto& c : cases) {
    EXPECT_EQ(resolve(kj::mv(c.ask), none)->refusal, c.expected);
  }
  QueueConfig tiny{kj::str("tiny"), 1};
  tiny.memoryMaxBytes = 1000;  // the queue's default is checked as in force too
  EXPECT_EQ(resolve([](auto) {}, tiny)->refusal, "memory limit is under 1M");
  EXPECT_EQ(resolve([](auto l) { l.setKillGraceUsec(spec::MAX_KILL_GRACE_USEC); }, none)->refusal,
            "");
}

spec::RetryPolicy::Reader defaulted(capnp::MallocMessageBuilder& message,
                                    kj::Function<void(spec::RetryPolicy::Builder)> fill) {
  auto policy = message.initRoot<spec::RetryPolicy>();
  fill(policy);
  applyRetryDefault(policy);
  return policy.asReader();
}

TEST(TaskSpecCheck, RetriesAloneRetryAnExitATimeoutAndAMissedHeartbeat) {
  capnp::MallocMessageBuilder a;
  auto alone = defaulted(a, [](auto p) { p.setRetries(3); });
  EXPECT_EQ(alone.getRetries(), 3u);
  EXPECT_TRUE(alone.getOnExit());
  EXPECT_TRUE(alone.getOnTimeout());
  EXPECT_TRUE(alone.getOnHeartbeat());
  EXPECT_FALSE(alone.getOnSignal());
  EXPECT_FALSE(alone.getOnOom());
  EXPECT_FALSE(alone.getOnLost());

  // One condition named: only that one.
  capnp::MallocMessageBuilder b;
  auto named = defaulted(b, [](auto p) {
    p.setRetries(3);
    p.setOnOom(true);
  });
  EXPECT_TRUE(named.getOnOom());
  EXPECT_FALSE(named.getOnExit());
  EXPECT_FALSE(named.getOnTimeout());
  EXPECT_FALSE(named.getOnHeartbeat());

  // No retries: nothing to default.
  capnp::MallocMessageBuilder c;
  auto none = defaulted(c, [](auto) {});
  EXPECT_FALSE(none.getOnExit());
  EXPECT_FALSE(none.getOnTimeout());
  EXPECT_FALSE(none.getOnHeartbeat());
}

TEST(TaskSpecCheck, DropsWhatATaskMayNotCarryIn) {
  for (auto dropped :
       {"NOTIFY_SOCKET=/run/x", "WATCHDOG_USEC=1", "WATCHDOG_PID=1", "LISTEN_FDS=3", "LISTEN_PID=1",
        "INVOCATION_ID=abc", "JOURNAL_STREAM=8:9", "LD_PRELOAD=/x.so", "LD_LIBRARY_PATH=/x",
        "GCONV_PATH=/x", "MALLOC_ARENA_MAX=1", "GLIBC_TUNABLES=x", "NOEQUALS", "=value"}) {
    EXPECT_TRUE(isDroppedVariable(kj::StringPtr(dropped).asBytes())) << dropped;
  }
  for (auto kept :
       {"PATH=/usr/bin", "HOME=/root", "NOTIFY=1", "XLD_PRELOAD=1", "EMPTY=", "A=B=C"}) {
    EXPECT_FALSE(isDroppedVariable(kj::StringPtr(kept).asBytes())) << kept;
  }

  capnp::MallocMessageBuilder message;
  auto spec = message.initRoot<spec::TaskSpec>();
  auto env = spec.initEnv(4);
  env.set(0, "A=1"_kj.asBytes());
  env.set(1, "LD_PRELOAD=/evil.so"_kj.asBytes());
  env.set(2, "B=2"_kj.asBytes());
  env.set(3, "NOTIFY_SOCKET=/run/x"_kj.asBytes());
  capnp::MallocMessageBuilder out;
  auto kept = keptEnvironment(spec.getEnv(), out.getOrphanage());
  auto list = kept.getReader();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(kj::heapString(list[0].asChars()), "A=1");
  EXPECT_EQ(kj::heapString(list[1].asChars()), "B=2");
}

// ---- Retries that grow a limit (issue 16) ----

std::string growthRefusal(
    kj::Function<void(spec::RetryPolicy::Builder, spec::TaskLimits::Builder)> fill) {
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<spec::TaskSpec>();
  request.initArgv(1).set(0, "true"_kj.asBytes());
  auto retry = request.initRetry();
  retry.setRetries(1);
  auto limits = request.initLimits();
  fill(retry, limits);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 checkTaskSpec(request.asReader());
                 checkRetryGrowth(retry.asReader(), limits.asReader());
               })) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::FAILED);
    return e->getDescription().cStr();
  }
  return "";
}

TEST(TaskSpecCheck, RetryGrowthNeedsItsConditionALimitAndAMaximumAboveIt) {
  // Taken: a factor with its condition and a limit, with or without a maximum.
  EXPECT_EQ(growthRefusal([](auto r, auto l) {
              r.setOnOom(true);
              r.setMemoryGrowFactor(2);
              r.setMemoryGrowMaxBytes(256 << 20);
              l.setMemoryMaxBytes(50 << 20);
            }),
            "");
  EXPECT_EQ(growthRefusal([](auto r, auto l) {
              r.setOnTimeout(true);
              r.setTimeoutGrowFactor(1.5);
              l.setTimeoutUsec(1000000);
            }),
            "");
  // Without the matching condition (the default conditions do not count: --retry-on names it).
  EXPECT_THAT(growthRefusal([](auto r, auto l) {
                r.setMemoryGrowFactor(2);
                l.setMemoryMaxBytes(50 << 20);
              }),
              testing::HasSubstr("--memory-grow needs --retry-on oom"));
  EXPECT_THAT(growthRefusal([](auto r, auto l) {
                r.setOnExit(true);
                r.setTimeoutGrowFactor(2);
                l.setTimeoutUsec(1000000);
              }),
              testing::HasSubstr("--timeout-grow needs --retry-on timeout"));
  // A factor out of range, NaN included.
  for (double factor : {1.0, 0.5, -2.0, 101.0, std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_THAT(growthRefusal([factor](auto r, auto l) {
                  r.setOnTimeout(true);
                  r.setTimeoutGrowFactor(factor);
                  l.setTimeoutUsec(1000000);
                }),
                testing::HasSubstr("growth factor must be above 1x"))
        << factor;
  }
  // A maximum without its factor, or below the limit.
  EXPECT_THAT(growthRefusal([](auto r, auto) { r.setMemoryGrowMaxBytes(1 << 30); }),
              testing::HasSubstr("--memory-max needs --memory-grow"));
  EXPECT_THAT(growthRefusal([](auto r, auto) { r.setTimeoutGrowMaxUsec(1000000); }),
              testing::HasSubstr("--timeout-max needs --timeout-grow"));
  EXPECT_THAT(growthRefusal([](auto r, auto l) {
                r.setOnOom(true);
                r.setMemoryGrowFactor(2);
                r.setMemoryGrowMaxBytes(512 << 20);
                l.setMemoryMaxBytes(1 << 30);
              }),
              testing::HasSubstr("--memory-max 512M is below the memory limit (1G)"));
  EXPECT_THAT(growthRefusal([](auto r, auto l) {
                r.setOnTimeout(true);
                r.setTimeoutGrowFactor(2);
                r.setTimeoutGrowMaxUsec(1800000000);
                l.setTimeoutUsec(3600000000);
              }),
              testing::HasSubstr("--timeout-max 30min is below the timeout (1h)"));
  // Nothing to grow.
  EXPECT_THAT(growthRefusal([](auto r, auto) {
                r.setOnOom(true);
                r.setMemoryGrowFactor(2);
              }),
              testing::HasSubstr("--memory-grow needs a memory limit"));
  EXPECT_THAT(growthRefusal([](auto r, auto) {
                r.setOnTimeout(true);
                r.setTimeoutGrowFactor(2);
              }),
              testing::HasSubstr("--timeout-grow needs a timeout"));
}

TEST(TaskSpecCheck, AGrownLimitIsTheFactorTimesTheLimitCappedByItsMaximum) {
  EXPECT_EQ(grownLimit(50 << 20, 2, 256 << 20, UINT64_MAX), 100u << 20);
  EXPECT_EQ(grownLimit(100 << 20, 2, 256 << 20, UINT64_MAX), 200u << 20);
  EXPECT_EQ(grownLimit(200 << 20, 2, 256 << 20, UINT64_MAX), 256u << 20);
  EXPECT_EQ(grownLimit(256 << 20, 2, 256 << 20, UINT64_MAX), 256u << 20);     // stays at the cap
  EXPECT_EQ(grownLimit(1000000, 1.5, 0, UINT64_MAX), 1500000u);               // no maximum
  EXPECT_EQ(grownLimit(1000000, 2, 0, 1800000), 1800000u);                    // the bound
  EXPECT_EQ(grownLimit(1000000, 0, 0, UINT64_MAX), 1000000u);                 // no growth
  EXPECT_EQ(grownLimit(1, 1.1, 0, UINT64_MAX), 2u);                           // always up
  EXPECT_EQ(grownLimit(UINT64_MAX / 2 + 1, 100, 0, UINT64_MAX), UINT64_MAX);  // no wrap
}

}  // namespace
}  // namespace taskctl
