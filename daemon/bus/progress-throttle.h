// Live progress for the TaskProgress signal: at most one signal per task per
// interval (4 a second by default), the latest value wins. Progress may come
// as fast as a task can write datagrams; the bus must not carry all of it.
// Pure kj (no sd-bus): unit-tested with a fake timer.
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <kj/map.h>
#include <kj/timer.h>

namespace taskctl {

class ProgressThrottle {
 public:
  // `timestamp` is the report's, passed through (µs since the epoch for TaskProgress).
  using Emit = kj::Function<void(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction,
                                 uint64_t timestamp)>;

  // `timer` outlives the throttle; `emit` must not throw. At most `maxTasks`
  // tasks are tracked at once (one small entry each): a report for one more
  // task is dropped, so memory never grows with the number of reports.
  ProgressThrottle(kj::Timer& timer, Emit emit, kj::Duration interval = 250 * kj::MILLISECONDS,
                   size_t maxTasks = 4096);
  KJ_DISALLOW_COPY(ProgressThrottle);

  void report(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction, uint64_t timestamp);
  // Emits at once if the task's last signal is at least `interval` old; else
  // keeps this value (replacing an older one) for the end of the interval.

  void forget(uint64_t taskId);
  // The task changed state: a value still held is stale, drop it.

  size_t tracked() const { return entries.size(); }

 private:
  struct Entry {
    kj::TimePoint due;  // the task's next signal may go out from here
    bool held = false;  // a value waits for `due`
    uint32_t uid = 0, attempt = 0;
    double fraction = 0;
    uint64_t timestamp = 0;
  };

  kj::Timer& timer;
  Emit emit;
  kj::Duration interval;
  size_t maxTasks;
  kj::HashMap<uint64_t, Entry> entries;  // tasks that emitted within the last interval
  bool ticking = false;
  kj::Promise<void> ticks = nullptr;

  kj::Promise<void> tick();
};

}  // namespace taskctl
