#include "bus/progress-throttle.h"

#include <gtest/gtest.h>
#include <kj/vector.h>

namespace taskctl {
namespace {

struct Sent {
  uint64_t taskId;
  uint32_t attempt;
  double fraction;
};

struct Harness {
  kj::EventLoop loop;
  kj::WaitScope waitScope{loop};
  kj::TimerImpl timer{kj::origin<kj::TimePoint>()};
  kj::Vector<Sent> sent;
  ProgressThrottle throttle{timer,
                            [this](uint64_t id, uint32_t, uint32_t attempt, double f, uint64_t) {
                              sent.add(Sent{id, attempt, f});
                            }};

  void advance(kj::Duration d) {
    timer.advanceTo(timer.now() + d);
    loop.run();
  }
};

TEST(ProgressThrottle, SendsTheFirstReportAtOnce) {
  Harness h;
  h.throttle.report(1, 1000, 1, 0.1, 0);
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].fraction, 0.1);
}

TEST(ProgressThrottle, SendsAtMostFourASecondPerTaskAndTheLatestWins) {
  Harness h;
  // 1000 reports a second for 2 s.
  for (int ms = 0; ms < 2000; ms++) {
    h.throttle.report(7, 1000, 1, ms / 2000.0, 0);
    h.advance(1 * kj::MILLISECONDS);
  }
  h.advance(1 * kj::SECONDS);
  EXPECT_LE(h.sent.size(), 9u);  // the first at once, then one per 250 ms
  EXPECT_GE(h.sent.size(), 8u);
  EXPECT_EQ(h.sent.back().fraction, 1999 / 2000.0) << "the last value is not lost";
}

TEST(ProgressThrottle, TasksDoNotShareABudget) {
  Harness h;
  h.throttle.report(1, 1000, 1, 0.1, 0);
  h.throttle.report(2, 1000, 1, 0.2, 0);
  EXPECT_EQ(h.sent.size(), 2u);
  h.throttle.report(1, 1000, 1, 0.3, 0);
  EXPECT_EQ(h.sent.size(), 2u);
  h.advance(250 * kj::MILLISECONDS);
  ASSERT_EQ(h.sent.size(), 3u);
  EXPECT_EQ(h.sent[2].taskId, 1u);
  EXPECT_EQ(h.sent[2].fraction, 0.3);
}

TEST(ProgressThrottle, ForgetsQuietTasksAndStopsItsTimer) {
  Harness h;
  h.throttle.report(1, 1000, 1, 0.1, 0);
  EXPECT_EQ(h.throttle.tracked(), 1u);
  h.advance(250 * kj::MILLISECONDS);
  EXPECT_EQ(h.throttle.tracked(), 0u);
  // Quiet for a while: the next report goes out at once again.
  h.advance(10 * kj::SECONDS);
  h.throttle.report(1, 1000, 1, 0.5, 0);
  EXPECT_EQ(h.sent.size(), 2u);
}

TEST(ProgressThrottle, DropsAHeldValueWhenTheTaskChangesState) {
  Harness h;
  h.throttle.report(1, 1000, 1, 0.1, 0);
  h.throttle.report(1, 1000, 1, 0.9, 0);
  h.throttle.forget(1);
  h.advance(1 * kj::SECONDS);
  EXPECT_EQ(h.sent.size(), 1u);
}

TEST(ProgressThrottle, TracksABoundedNumberOfTasks) {
  kj::EventLoop loop;
  kj::WaitScope waitScope(loop);
  kj::TimerImpl timer(kj::origin<kj::TimePoint>());
  size_t sent = 0;
  ProgressThrottle throttle(
      timer, [&](uint64_t, uint32_t, uint32_t, double, uint64_t) { sent++; },
      250 * kj::MILLISECONDS, 3);
  for (uint64_t id = 1; id <= 10; id++) throttle.report(id, 0, 1, 0.5, 0);
  EXPECT_EQ(throttle.tracked(), 3u);
  EXPECT_EQ(sent, 3u);
}

}  // namespace
}  // namespace taskctl
