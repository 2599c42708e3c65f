#include "bus/progress-throttle.h"

#include <kj/debug.h>

namespace taskctl {

ProgressThrottle::ProgressThrottle(kj::Timer& timer, Emit emit, kj::Duration interval,
                                   size_t maxTasks)
    : timer(timer), emit(kj::mv(emit)), interval(interval), maxTasks(maxTasks) {}

void ProgressThrottle::report(uint64_t taskId, uint32_t uid, uint32_t attempt, double fraction,
                              uint64_t timestamp) {
  KJ_IF_MAYBE (entry, entries.find(taskId)) {
    // Within the interval: keep the latest for when it ends.
    entry->held = true;
    entry->uid = uid;
    entry->attempt = attempt;
    entry->fraction = fraction;
    entry->timestamp = timestamp;
    return;
  }
  if (entries.size() >= maxTasks) return;
  emit(taskId, uid, attempt, fraction, timestamp);
  entries.insert(taskId, Entry{timer.now() + interval});
  if (!ticking) {
    // One timer for all tasks. Entries are made in time order with the same
    // interval, so a new one is never due before the one the timer waits for.
    ticking = true;
    ticks = tick().eagerlyEvaluate(
        [](kj::Exception&& e) { KJ_LOG(ERROR, "progress throttle failed", e); });
  }
}

void ProgressThrottle::forget(uint64_t taskId) { entries.erase(taskId); }

kj::Promise<void> ProgressThrottle::tick() {
  if (entries.size() > 0) {
    kj::TimePoint earliest = entries.begin()->value.due;
    for (auto& entry : entries) earliest = kj::min(earliest, entry.value.due);
    return timer.atTime(earliest).then([this]() {
      auto now = timer.now();
      // A held value goes out now and opens a new interval; a task with
      // nothing held is done with its interval and no longer tracked.
      entries.eraseAll([&](uint64_t taskId, Entry& entry) {
        if (entry.due > now) return false;
        if (!entry.held) return true;
        emit(taskId, entry.uid, entry.attempt, entry.fraction, entry.timestamp);
        entry.held = false;
        entry.due = now + interval;
        return false;
      });
      return tick();
    });
  }
  ticking = false;  // nothing tracked: no timer until the next report
  return kj::READY_NOW;
}

}  // namespace taskctl
