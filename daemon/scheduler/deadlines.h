// The scheduler's timed waits (a delay, an --at time, a retry's backoff), by
// task id: one kj timer for the earliest monotonic deadline and one wall
// timer for the earliest wall-clock deadline, however many tasks wait. No
// polling. It knows tasks only by id: what is due goes to the callback given
// at construction, which the Scheduler owns (it never calls the Scheduler).
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <kj/time.h>
#include <kj/timer.h>

#include <map>
#include <set>

#include "scheduler/wall-timer.h"

namespace taskctl {

class Deadlines final : private kj::TaskSet::ErrorHandler {
 public:
  // Called once per due id, its deadline already cleared. `elapsed`: an
  // elapsed-time wait (monotonic) that is over, even if the wall clock was
  // set back meanwhile; otherwise a wall-clock one.
  using Due = kj::Function<void(uint64_t id, bool elapsed)>;

  // Every reference outlives this object. `timer` follows the monotonic
  // clock, `clock` and `wallTimer` the realtime one.
  Deadlines(kj::Timer& timer, const kj::Clock& clock, WallTimer& wallTimer, Due due);
  KJ_DISALLOW_COPY(Deadlines);

  void set(uint64_t id, int64_t realtimeNs, bool wallClock);
  // `id` is due at `realtimeNs` (ns since the epoch): on the wall clock if
  // `wallClock` (--at), else as elapsed time from now (--in, backoff: the
  // stored realtime turned into a monotonic deadline now, also after a
  // restart, where it is what is left of the wait). Replaces its deadline.
  // Arms the timers.

  void clear(uint64_t id);
  // No deadline for `id` any more (none: nothing to do). Does not re-arm: a
  // timer armed for it finds nothing due and re-arms for what is left, or
  // call arm().

  void arm();
  // One timer per clock, for its earliest deadline.

 private:
  struct Entry {
    bool wallClock;
    kj::TimePoint monotonic;  // when !wallClock
    kj::Date wall;            // when wallClock
  };
  kj::Timer& timer;
  const kj::Clock& clock;
  WallTimer& wallTimer;
  Due due;
  kj::TaskSet tasks;
  std::map<uint64_t, Entry> byId;
  std::set<std::pair<kj::TimePoint, uint64_t>> monotonicDeadlines;
  std::set<std::pair<kj::Date, uint64_t>> wallDeadlines;
  kj::Maybe<kj::Promise<void>> monotonicTimer;
  kj::Maybe<kj::TimePoint> monotonicArmedFor;
  kj::Maybe<kj::Promise<void>> wallTimerWait;
  kj::Maybe<kj::Date> wallArmedFor;

  void taskFailed(kj::Exception&& exception) override;
  void monotonicDeadlinesDue();
  void wallDeadlinesDue();
};

}  // namespace taskctl
