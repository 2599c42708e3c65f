// Wall-clock deadlines (`submit --at`). kj::Timer follows the monotonic
// clock, which is right for `--in` and backoff (elapsed time) but wrong for
// "at 03:00": when the clock is stepped or DST changes, a wall-clock deadline
// must move with it. The daemon implements this with one realtime timerfd
// (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET); tests with a fake.
#pragma once

#include <kj/async.h>
#include <kj/time.h>

namespace taskctl {

class WallTimer {
 public:
  virtual ~WallTimer() noexcept(false) = default;

  virtual kj::Promise<void> atOrAfter(kj::Date when) = 0;
  // Resolves once the realtime clock reads `when` or later, or as soon as the
  // clock is set (stepped) before then: the caller re-reads the clock and
  // calls again. One promise at a time (a new call replaces the old one);
  // dropping the promise disarms the timer. Never polls.
};

}  // namespace taskctl
