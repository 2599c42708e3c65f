// The daemon's WallTimer: one CLOCK_REALTIME timerfd on the event loop.
#pragma once

#include <kj/async-unix.h>
#include <kj/io.h>

#include "scheduler/wall-timer.h"

namespace taskctl {

class TimerfdWallTimer final : public WallTimer {
 public:
  explicit TimerfdWallTimer(kj::UnixEventPort& port);
  // Creates the timerfd (disarmed) and starts watching it on `port`'s loop.
  // Throws if the kernel refuses a timerfd. Owned by whoever wires the
  // scheduler (Daemon); must outlive every promise it returned.

  KJ_DISALLOW_COPY(TimerfdWallTimer);

  kj::Promise<void> atOrAfter(kj::Date when) override;
  // Arms the timerfd at `when` (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)
  // and resolves when it expires, or when the realtime clock is set while it
  // is armed (read() gives ECANCELED). A `when` not after the current time
  // resolves at once, without arming. A promise still pending from an earlier
  // call is rejected ("replaced"): it never resolves late. Dropping the
  // current promise disarms the timerfd.

 private:
  kj::AutoCloseFd fd;
  kj::UnixEventPort::FdObserver observer;
  // The current call's fulfiller, while its promise waits.
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> pending;
  // Counts calls, so that dropping a replaced promise leaves its successor armed.
  uint64_t generation = 0;
  // Set if read() failed unexpectedly: every later call fails with it.
  kj::Maybe<kj::Exception> broken;
  kj::Promise<void> watching;  // declared last: stops before the observer and the fd go

  kj::Promise<void> watch();
  void drain();
  void fire();
  void arm(kj::Date when);
  void disarm();
};

}  // namespace taskctl
