// Schedules: systemd timer + service unit pairs that submit a task when they
// fire (DESIGN 6). The unit files are the only record: a schedule exists
// while its files do, in `unitDir` (/etc/systemd/system), named
// taskctl-schedule-<uid>-<NAME>.{timer,service}.
#pragma once

#include <kj/async.h>
#include <kj/map.h>
#include <kj/time.h>
#include <kj/vector.h>

#include <deque>
#include <map>

#include "timers/systemd-units.h"
#include "timers/unit-file.h"

namespace taskctl {

struct ScheduleInfo {
  uint32_t uid;
  kj::String name;
  kj::String onCalendar;
  kj::String timerUnit;
  kj::String serviceUnit;
  TimerTimes times;
};

class Schedules {
 public:
  struct Paths {
    kj::String unitDir;      // /etc/systemd/system
    kj::String taskctlPath;  // /usr/bin/taskctl: what the service runs
    kj::String socketPath;   // the daemon's socket, for TASKCTL_SOCKET
  };
  // `systemd` (nullptr: the daemon runs without systemd, and every call
  // refuses) and `check` outlive this.
  Schedules(kj::Maybe<SystemdUnits&> systemd, CalendarCheck& check, Paths paths);
  KJ_DISALLOW_COPY(Schedules);

  struct Limits {
    uint64_t maxPerUser = 0;        // limits.max_schedules_per_user; 0: none
    uint64_t changesPerMinute = 0;  // limits.schedule_changes_per_minute; 0: none
  };
  void checkLimits(uint32_t uid, bool adding, Limits limits, kj::TimePoint now);
  // For a caller who is not root or in the admin group, before add() or
  // remove(): each change reloads PID 1, so a user gets at most
  // `changesPerMinute` of them in any minute, and at most `maxPerUser`
  // schedules. Refuses with OVERLOADED (exit 75) naming the limit; counts
  // the change when it lets it through.

  kj::Promise<void> add(ScheduleSpec spec);
  // Validates (the name, the calendar spec by systemd's own verdict) before
  // writing anything; refuses a name the owner already has. Writes both
  // files atomically, then Reload, EnableUnitFiles, StartUnit of the timer.
  // If systemd refuses after the files were written, the add is undone as
  // remove would (StopUnit, DisableUnitFiles, both files deleted, Reload).

  kj::Promise<kj::Array<ScheduleInfo>> list(kj::Maybe<uint32_t> uid);
  // Those of `uid` (nullptr: everyone's), by owner and name, with the
  // timer's times as systemd reports them (0 where it cannot).

  kj::Promise<void> remove(uint32_t callerUid, bool privileged, kj::StringPtr name,
                           kj::Maybe<uint32_t> owner = nullptr);
  // `owner`'s schedule NAME (taskctl schedule remove NAME --user USER):
  // naming yourself is always allowed, another user only for a privileged
  // caller (anyone else gets "permission denied", decided before looking,
  // so it tells nothing of that user's schedules). Without `owner`, the
  // caller's; a privileged caller without one of that name removes the one
  // other user's of that name, and is refused (pointing at --user) when
  // several have one. StopUnit and DisableUnitFiles of the timer, both
  // files deleted, Reload. A foreign schedule reads exactly like a missing
  // one.

 private:
  kj::Maybe<SystemdUnits&> systemd;
  CalendarCheck& check;
  Paths paths;
  kj::HashMap<kj::String, bool> adding;  // base names being added: a second add of one is refused
  std::map<uint32_t, std::deque<kj::TimePoint>> recentChanges;  // per uid, within the last minute

  SystemdUnits& requireSystemd();
  kj::String pathOf(kj::StringPtr base, kj::StringPtr suffix) const;
  kj::Vector<ScheduleKey> scan(kj::Maybe<uint32_t> uid, kj::Maybe<kj::StringPtr> name) const;
  kj::Array<kj::String> unitArgs(kj::StringPtr timerUnit) const;
  bool exists(kj::StringPtr base) const;
};

}  // namespace taskctl
