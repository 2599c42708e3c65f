#include "scheduler/timerfd-wall-timer.h"

#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace taskctl {
namespace {

int64_t realtimeNsec() {
  struct timespec ts;
  KJ_SYSCALL(clock_gettime(CLOCK_REALTIME, &ts));
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

kj::Date realtimeNow() { return kj::UNIX_EPOCH + realtimeNsec() * kj::NANOSECONDS; }
int64_t nsecOf(kj::Date date) { return (date - kj::UNIX_EPOCH) / kj::NANOSECONDS; }

// Waits for `promise`, but no longer than `limit` of monotonic time: false if
// it did not resolve by then, so a broken timer fails the test instead of
// hanging it.
bool resolvesWithin(kj::AsyncIoContext& io, kj::Promise<void> promise, kj::Duration limit) {
  return promise.then([]() { return true; })
      .exclusiveJoin(io.provider->getTimer().afterDelay(limit).then([]() { return false; }))
      .wait(io.waitScope);
}

// What the kernel says of the process's one CLOCK_REALTIME timerfd (kj's own
// timerfd follows CLOCK_MONOTONIC): its "it_value: (sec, nsec)" line, time
// left until it expires, "(0, 0)" when disarmed.
std::string realtimeTimerValue() {
  std::string found;
  for (int fd = 0; fd < 1024; fd++) {
    char link[64];
    ssize_t n = readlink(kj::str("/proc/self/fd/", fd).cStr(), link, sizeof(link) - 1);
    if (n < 0 || std::string(link, n) != "anon_inode:[timerfd]") continue;
    std::ifstream info(kj::str("/proc/self/fdinfo/", fd).cStr());
    std::string line, value;
    bool realtime = false;
    while (std::getline(info, line)) {
      if (line.rfind("clockid:", 0) == 0) realtime = line.find(" 0") != std::string::npos;
      if (line.rfind("it_value:", 0) == 0) value = line.substr(line.find('('));
    }
    if (realtime) {
      KJ_ASSERT(found.empty(), "more than one realtime timerfd");
      found = value;
    }
  }
  KJ_ASSERT(!found.empty(), "no realtime timerfd");
  return found;
}

constexpr kj::Duration SLACK = 10 * kj::SECONDS;  // a loaded CI machine, never a pass/fail bound

TEST(TimerfdWallTimer, ResolvesAtItsDeadlineAndNotBefore) {
  auto io = kj::setupAsyncIo();
  TimerfdWallTimer timer(io.unixEventPort);
  auto when = realtimeNow() + 200 * kj::MILLISECONDS;
  auto promise = timer.atOrAfter(when);
  EXPECT_FALSE(promise.poll(io.waitScope));
  ASSERT_TRUE(resolvesWithin(io, kj::mv(promise), SLACK));
  EXPECT_GE(realtimeNsec(), nsecOf(when));
}

TEST(TimerfdWallTimer, ResolvesAtOnceForADeadlineAlreadyPast) {
  auto io = kj::setupAsyncIo();
  TimerfdWallTimer timer(io.unixEventPort);
  auto past = timer.atOrAfter(realtimeNow() - kj::SECONDS);
  EXPECT_TRUE(past.poll(io.waitScope));
  past.wait(io.waitScope);
  auto epoch = timer.atOrAfter(kj::UNIX_EPOCH);
  EXPECT_TRUE(epoch.poll(io.waitScope));
  epoch.wait(io.waitScope);
  EXPECT_EQ(realtimeTimerValue(), "(0, 0)");
}

TEST(TimerfdWallTimer, ANewDeadlineReplacesALaterOne) {
  auto io = kj::setupAsyncIo();
  TimerfdWallTimer timer(io.unixEventPort);
  auto first = timer.atOrAfter(realtimeNow() + kj::HOURS);
  auto when = realtimeNow() + 200 * kj::MILLISECONDS;
  auto second = timer.atOrAfter(when);

  // The replaced promise says so instead of waiting forever.
  ASSERT_TRUE(first.poll(io.waitScope));
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { first.wait(io.waitScope); })) {
    EXPECT_TRUE(e->getDescription().startsWith("wall-clock wait replaced"))
        << e->getDescription().cStr();
  } else {
    ADD_FAILURE() << "the replaced wait resolved";
  }

  ASSERT_TRUE(resolvesWithin(io, kj::mv(second), SLACK));
  EXPECT_GE(realtimeNsec(), nsecOf(when));
}

TEST(TimerfdWallTimer, ANewDeadlineReplacesAnEarlierOne) {
  auto io = kj::setupAsyncIo();
  TimerfdWallTimer timer(io.unixEventPort);
  auto first = timer.atOrAfter(realtimeNow() + 50 * kj::MILLISECONDS);
  auto when = realtimeNow() + 400 * kj::MILLISECONDS;
  auto second = timer.atOrAfter(when);
  first = nullptr;  // dropping the replaced promise leaves the new deadline armed

  // Past the first deadline: the second must not take it for its own.
  io.provider->getTimer().afterDelay(150 * kj::MILLISECONDS).wait(io.waitScope);
  EXPECT_FALSE(second.poll(io.waitScope));
  ASSERT_TRUE(resolvesWithin(io, kj::mv(second), SLACK));
  EXPECT_GE(realtimeNsec(), nsecOf(when));
}

TEST(TimerfdWallTimer, CallingAgainFromTheContinuationKeepsTheNewDeadline) {
  // As the scheduler does: re-read the clock, call again. However the drop of
  // the consumed promise is ordered against the continuation, the new
  // deadline stays armed.
  auto io = kj::setupAsyncIo();
  TimerfdWallTimer timer(io.unixEventPort);
  kj::Date when = kj::UNIX_EPOCH;
  auto chained = timer.atOrAfter(realtimeNow() + 50 * kj::MILLISECONDS).then([&]() {
    when = realtimeNow() + 200 * kj::MILLISECONDS;
    return timer.atOrAfter(when);
  });
  ASSERT_TRUE(resolvesWithin(io, kj::mv(chained), SLACK));
  EXPECT_GE(realtimeNsec(), nsecOf(when));
}

TEST(TimerfdWallTimer, DroppingThePromiseDisarmsTheTimer) {
  auto io = kj::setupAsyncIo();
  TimerfdWallTimer timer(io.unixEventPort);
  EXPECT_EQ(realtimeTimerValue(), "(0, 0)");
  auto promise = timer.atOrAfter(realtimeNow() + kj::HOURS);
  EXPECT_NE(realtimeTimerValue(), "(0, 0)");
  promise = nullptr;
  EXPECT_EQ(realtimeTimerValue(), "(0, 0)");
}

// A clock step (ECANCELED from read()) is not tested here: it needs
// CAP_SYS_TIME and would step the host's clock under every other process.
// The Debian VM suite steps its own clock under a waiting `--at` task.

}  // namespace
}  // namespace taskctl
