#include "scheduler/deadlines.h"

#include <kj/debug.h>
#include <kj/vector.h>

namespace taskctl {

Deadlines::Deadlines(kj::Timer& timer, const kj::Clock& clock, WallTimer& wallTimer, Due due)
    : timer(timer), clock(clock), wallTimer(wallTimer), due(kj::mv(due)), tasks(*this) {}

void Deadlines::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "a timed wait failed", exception);
}

void Deadlines::set(uint64_t id, int64_t realtimeNs, bool wallClock) {
  clear(id);
  Entry entry{wallClock, kj::origin<kj::TimePoint>(), kj::UNIX_EPOCH};
  if (wallClock) {
    entry.wall = kj::UNIX_EPOCH + realtimeNs * kj::NANOSECONDS;
    wallDeadlines.emplace(entry.wall, id);
  } else {
    int64_t now = (clock.now() - kj::UNIX_EPOCH) / kj::NANOSECONDS;
    int64_t left = kj::max(realtimeNs - now, int64_t(0));
    entry.monotonic = timer.now() + left * kj::NANOSECONDS;
    monotonicDeadlines.emplace(entry.monotonic, id);
  }
  byId.emplace(id, entry);
  arm();
}

void Deadlines::clear(uint64_t id) {
  auto it = byId.find(id);
  if (it == byId.end()) return;
  if (it->second.wallClock) {
    wallDeadlines.erase({it->second.wall, id});
  } else {
    monotonicDeadlines.erase({it->second.monotonic, id});
  }
  byId.erase(it);
}

void Deadlines::arm() {
  // A continuation never replaces the promise it runs in: it goes through
  // evalLater first.
  if (monotonicDeadlines.empty()) {
    monotonicTimer = nullptr;
    monotonicArmedFor = nullptr;
  } else {
    kj::TimePoint first = monotonicDeadlines.begin()->first;
    bool armed = false;
    KJ_IF_MAYBE (at, monotonicArmedFor) armed = *at == first;
    if (!armed) {
      monotonicArmedFor = first;
      monotonicTimer =
          timer.atTime(first)
              .then([this]() { tasks.add(kj::evalLater([this]() { monotonicDeadlinesDue(); })); })
              .eagerlyEvaluate(nullptr);
    }
  }
  if (wallDeadlines.empty()) {
    wallTimerWait = nullptr;
    wallArmedFor = nullptr;
  } else {
    kj::Date first = wallDeadlines.begin()->first;
    bool armed = false;
    KJ_IF_MAYBE (at, wallArmedFor) armed = *at == first;
    if (!armed) {
      wallArmedFor = first;
      wallTimerWait = nullptr;  // the timer takes one wait at a time
      wallTimerWait =
          wallTimer.atOrAfter(first)
              .then([this]() { tasks.add(kj::evalLater([this]() { wallDeadlinesDue(); })); })
              .eagerlyEvaluate(nullptr);
    }
  }
}

void Deadlines::monotonicDeadlinesDue() {
  monotonicArmedFor = nullptr;
  kj::TimePoint t = timer.now();
  kj::Vector<uint64_t> ids;
  for (auto& [when, id] : monotonicDeadlines) {
    if (when > t) break;
    ids.add(id);
  }
  for (auto id : ids) {
    clear(id);
    due(id, true);
  }
  arm();
}

void Deadlines::wallDeadlinesDue() {
  // Also after a clock step: what is now due runs; the rest is re-armed
  // against the new time.
  wallArmedFor = nullptr;
  kj::Date t = clock.now();
  kj::Vector<uint64_t> ids;
  for (auto& [when, id] : wallDeadlines) {
    if (when > t) break;
    ids.add(id);
  }
  for (auto id : ids) {
    clear(id);
    due(id, false);
  }
  arm();
}

}  // namespace taskctl
