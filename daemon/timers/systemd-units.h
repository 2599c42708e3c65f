// What schedules need of systemd, and no more: the bus module implements it
// over D-Bus (org.freedesktop.systemd1.Manager), tests with a fake.
#pragma once

#include <kj/async.h>
#include <kj/string.h>
#include <stdint.h>

namespace taskctl {

// A timer's times, realtime microseconds since the epoch; 0: none.
struct TimerTimes {
  uint64_t nextUsec = 0;  // NextElapseUSecRealtime
  uint64_t lastUsec = 0;  // LastTriggerUSec
};

class SystemdUnits {
 public:
  virtual ~SystemdUnits() noexcept(false) = default;

  // Each is one asynchronous method call; none blocks the loop. They reject
  // with systemd's own words when it refuses, DISCONNECTED while the bus or
  // systemd is away.
  virtual bool connected() = 0;
  virtual kj::Promise<void> reload() = 0;
  virtual kj::Promise<void> enableUnitFiles(kj::Array<kj::String> files) = 0;
  // EnableUnitFiles(files, runtime=false, force=true).
  virtual kj::Promise<void> disableUnitFiles(kj::Array<kj::String> files) = 0;
  // DisableUnitFiles(files, runtime=false).
  virtual kj::Promise<void> startUnit(kj::StringPtr unit) = 0;
  // StartUnit(unit, "replace"), then the job's end (with a deadline).
  virtual kj::Promise<void> stopUnit(kj::StringPtr unit) = 0;
  // StopUnit(unit, "replace"), then the job's end (with a deadline).
  virtual kj::Promise<TimerTimes> timerTimes(kj::StringPtr unit) = 0;
  // LoadUnit, then the Timer properties on the unit's object.
};

// Asks systemd whether a calendar spec is valid (systemd-analyze calendar):
// resolves to nullptr, or to systemd's verdict for a person.
class CalendarCheck {
 public:
  virtual ~CalendarCheck() noexcept(false) = default;
  virtual kj::Promise<kj::Maybe<kj::String>> check(kj::StringPtr spec) = 0;
};

}  // namespace taskctl
