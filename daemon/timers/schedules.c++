#include "timers/schedules.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/durable-file.h"
#include "common/errors.h"

namespace taskctl {
namespace {

constexpr kj::StringPtr SYSTEM_UNIT_DIR = "/etc/systemd/system"_kj;

kj::Maybe<kj::String> readSmallFile(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  KJ_DEFER(close(fd));
  kj::Vector<char> text;
  char buffer[4096];
  for (;;) {
    ssize_t n;
    KJ_SYSCALL(n = read(fd, buffer, sizeof(buffer)), path);
    if (n == 0) break;
    text.addAll(buffer, buffer + n);
    if (text.size() > (1 << 20)) break;
  }
  text.add('\0');
  return kj::String(text.releaseAsArray());
}

}  // namespace

Schedules::Schedules(kj::Maybe<SystemdUnits&> systemd, CalendarCheck& check, Paths paths)
    : systemd(systemd), check(check), paths(kj::mv(paths)) {}

SystemdUnits& Schedules::requireSystemd() {
  KJ_IF_MAYBE (s, systemd) {
    if (!s->connected()) {
      overloaded(
          kj::str("schedules need systemd, and it is not on the system bus right now; try again"));
    }
    return *s;
  }
  refuse(
      kj::str("schedules need systemd: taskctld runs without it (--runner scope needs systemd "
              "as PID 1 and the system bus)"));
}

kj::String Schedules::pathOf(kj::StringPtr base, kj::StringPtr suffix) const {
  return kj::str(paths.unitDir, "/", base, suffix);
}

bool Schedules::exists(kj::StringPtr base) const {
  struct stat st;
  return lstat(pathOf(base, ".timer").cStr(), &st) == 0 ||
         lstat(pathOf(base, ".service").cStr(), &st) == 0;
}

kj::Array<kj::String> Schedules::unitArgs(kj::StringPtr timerUnit) const {
  // Names for systemd's own directory; elsewhere (tests) the path, which
  // EnableUnitFiles links.
  auto arg = paths.unitDir == SYSTEM_UNIT_DIR ? kj::str(timerUnit)
                                              : kj::str(paths.unitDir, "/", timerUnit);
  return kj::arr(kj::mv(arg));
}

kj::Vector<ScheduleKey> Schedules::scan(kj::Maybe<uint32_t> uid,
                                        kj::Maybe<kj::StringPtr> name) const {
  kj::Vector<ScheduleKey> found;
  DIR* dir = opendir(paths.unitDir.cStr());
  if (dir == nullptr) return found;
  KJ_DEFER(closedir(dir));
  while (struct dirent* entry = readdir(dir)) {
    KJ_IF_MAYBE (key, parseScheduleUnit(entry->d_name, ".timer")) {
      KJ_IF_MAYBE (u, uid) {
        if (key->uid != *u) continue;
      }
      KJ_IF_MAYBE (n, name) {
        if (key->name != *n) continue;
      }
      found.add(kj::mv(*key));
    }
  }
  std::sort(found.begin(), found.end(), [](const ScheduleKey& a, const ScheduleKey& b) {
    return a.uid != b.uid ? a.uid < b.uid : a.name < b.name;
  });
  return found;
}

void Schedules::checkLimits(uint32_t uid, bool adding, Limits limits, kj::TimePoint now) {
  if (adding && limits.maxPerUser != 0) {
    // Those on disk and those being added: two adds at once cannot both take the last place.
    uint64_t count = scan(uid, nullptr).size();
    auto prefix = scheduleUnitBase(uid, "");
    for (auto& entry : this->adding) count += entry.key.startsWith(prefix);
    if (count >= limits.maxPerUser) {
      overloaded(kj::str("quota: user ", uid, " has ", count,
                         " schedules, the limit (limits.max_schedules_per_user) is ",
                         limits.maxPerUser, "; remove one first"));
    }
  }
  auto& times = recentChanges[uid];
  while (!times.empty() && now - times.front() >= 1 * kj::MINUTES) times.pop_front();
  if (limits.changesPerMinute != 0 && times.size() >= limits.changesPerMinute) {
    int64_t wait = (times.front() + 1 * kj::MINUTES - now) / kj::SECONDS + 1;
    overloaded(kj::str("too many schedule changes: user ", uid, " made ", times.size(),
                       " in the last minute, the limit (limits.schedule_changes_per_minute) is ",
                       limits.changesPerMinute, " (each reloads systemd); try again in ", wait,
                       " s"));
  }
  times.push_back(now);
  // Forget users with nothing recent: the map stays as small as the minute's callers.
  for (auto it = recentChanges.begin(); it != recentChanges.end();) {
    auto& t = it->second;
    while (!t.empty() && now - t.front() >= 1 * kj::MINUTES) t.pop_front();
    it = t.empty() ? recentChanges.erase(it) : std::next(it);
  }
}

kj::Promise<void> Schedules::add(ScheduleSpec spec) {
  auto& units = requireSystemd();
  KJ_IF_MAYBE (refusal, checkScheduleName(spec.name)) refuse(kj::mv(*refusal));
  KJ_REQUIRE(spec.task.asReader().getArgv().size() > 0, "a schedule needs a command");
  KJ_REQUIRE(spec.onCalendar.size() > 0, "a schedule needs --on-calendar SPEC");
  // Everything that can be refused without systemd, before asking it.
  auto timerText = scheduleTimerUnit(spec);
  auto serviceText = scheduleServiceUnit(spec, paths.taskctlPath, paths.socketPath);
  auto base = scheduleUnitBase(spec.uid, spec.name);
  if (exists(base) || adding.find(base) != nullptr) {
    refuse(kj::str("schedule ", spec.name, " exists; remove it first (taskctl schedule remove ",
                   spec.name, ")"));
  }
  adding.insert(kj::str(base), true);
  auto done = kj::defer([this, key = kj::str(base)]() { adding.erase(key.asPtr()); });
  auto onCalendar = kj::str(spec.onCalendar);
  return check.check(onCalendar)
      .then([this, &units, base = kj::str(base), timerText = kj::mv(timerText),
             serviceText = kj::mv(serviceText)](kj::Maybe<kj::String> verdict) mutable {
        KJ_IF_MAYBE (v, verdict) refuse(kj::mv(*v));
        // The service first: a timer never points at a missing one.
        auto servicePath = pathOf(base, ".service"), timerPath = pathOf(base, ".timer");
        writeFileAtomically(servicePath, serviceText.asBytes(), 0644);
        KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                            [&]() { writeFileAtomically(timerPath, timerText.asBytes(), 0644); })) {
          unlink(servicePath.cStr());
          rethrow(kj::mv(*e));
        }
        auto timerUnit = kj::str(base, ".timer");
        return units.reload()
            .then([this, &units, timerUnit = kj::str(timerUnit)]() {
              return units.enableUnitFiles(unitArgs(timerUnit));
            })
            .then([&units, timerUnit = kj::str(timerUnit)]() { return units.startUnit(timerUnit); })
            .catch_([this, &units,
                     base = kj::mv(base)](kj::Exception&& e) mutable -> kj::Promise<void> {
              // Nothing half-made stays behind. Deleting the files was not enough (a bug the
              // unit tests found): a refused StartUnit comes after EnableUnitFiles, whose link
              // in timers.target.wants then dangled for good, and a start whose job outlived
              // its deadline (or a bus that went away under it) may have left the timer
              // running without its files. So undo it as remove does: stop, disable, delete,
              // reload. Each step is tried whatever the one before said (systemd may never
              // have loaded the timer); the caller gets the refusal that failed the add.
              KJ_LOG(WARNING, "schedule add failed; removing its unit files", base,
                     e.getDescription());
              auto timerUnit = kj::str(base, ".timer");
              auto stopped = units.stopUnit(timerUnit).catch_([](kj::Exception&&) {});
              auto copy = kj::cp(e);
              return stopped
                  .then([this, &units, timerUnit = kj::mv(timerUnit)]() {
                    return units.disableUnitFiles(unitArgs(timerUnit)).catch_([](kj::Exception&&) {
                    });
                  })
                  .then([this, &units, base = kj::mv(base)]() {
                    unlink(pathOf(base, ".timer").cStr());
                    unlink(pathOf(base, ".service").cStr());
                    return units.reload();
                  })
                  .then([e = kj::mv(e)]() mutable -> kj::Promise<void> { return kj::mv(e); },
                        [copy = kj::mv(copy)](kj::Exception&&) mutable -> kj::Promise<void> {
                          return kj::mv(copy);
                        });
            });
      })
      .attach(kj::mv(done));
}

kj::Promise<kj::Array<ScheduleInfo>> Schedules::list(kj::Maybe<uint32_t> uid) {
  auto& units = requireSystemd();
  auto keys = scan(uid, nullptr);
  auto infos = kj::heapArray<ScheduleInfo>(keys.size());
  kj::Vector<kj::Promise<void>> reads;
  for (auto i : kj::indices(keys)) {
    auto base = scheduleUnitBase(keys[i].uid, keys[i].name);
    auto& info = infos[i];
    info.uid = keys[i].uid;
    info.name = kj::mv(keys[i].name);
    info.timerUnit = kj::str(base, ".timer");
    info.serviceUnit = kj::str(base, ".service");
    KJ_IF_MAYBE (text, readSmallFile(pathOf(base, ".timer"))) {
      info.onCalendar = timerOnCalendar(*text);
    } else {
      info.onCalendar = kj::str();
    }
    reads.add(units.timerTimes(info.timerUnit)
                  .then([&info](TimerTimes times) { info.times = times; },
                        [&info](kj::Exception&& e) {
                          // Shown without times rather than not at all.
                          KJ_LOG(WARNING, "cannot read a schedule's timer", info.timerUnit,
                                 e.getDescription());
                        }));
  }
  return kj::joinPromises(reads.releaseAsArray()).then([infos = kj::mv(infos)]() mutable {
    return kj::mv(infos);
  });
}

kj::Promise<void> Schedules::remove(uint32_t callerUid, bool privileged, kj::StringPtr name,
                                    kj::Maybe<uint32_t> owner) {
  auto& units = requireSystemd();
  KJ_IF_MAYBE (refusal, checkScheduleName(name)) refuse(kj::mv(*refusal));
  kj::Vector<ScheduleKey> found;
  KJ_IF_MAYBE (o, owner) {
    // As for queue set: a refusal of the caller's identity, and one that depends only on it and
    // the uid named, never on what that user has.
    if (*o != callerUid && !privileged) {
      refuse(
          kj::str("permission denied: only root and the admin group (access.admin_group) may "
                  "remove another user's schedule"));
    }
    found = scan(*o, name);
    if (found.size() == 0 && *o != callerUid) {
      refuse(kj::str("no such schedule: ", name, " of uid ", *o));
    }
  } else {
    found = scan(callerUid, name);
    if (found.size() == 0 && privileged) {
      found = scan(nullptr, name);
      if (found.size() > 1) {
        kj::Vector<kj::String> owners;
        for (auto& key : found) owners.add(kj::str(key.uid));
        refuse(kj::str("several users have a schedule ", name, " (uids ",
                       kj::strArray(owners, ", "), "); say whose: taskctl schedule remove ", name,
                       " --user UID"));
      }
    }
  }
  if (found.size() == 0) refuse(kj::str("no such schedule: ", name));
  auto base = scheduleUnitBase(found[0].uid, found[0].name);
  auto timerUnit = kj::str(base, ".timer");
  KJ_LOG(INFO, "schedule remove", base, callerUid);
  // A timer systemd no longer knows (NoSuchUnit, not loaded) is already stopped.
  auto stopped = units.stopUnit(timerUnit).catch_([](kj::Exception&& e) {
    if (e.getType() == kj::Exception::Type::DISCONNECTED) rethrow(kj::mv(e));
  });
  return stopped
      .then([this, &units, timerUnit = kj::mv(timerUnit)]() {
        return units.disableUnitFiles(unitArgs(timerUnit)).catch_([](kj::Exception&& e) {
          if (e.getType() == kj::Exception::Type::DISCONNECTED) rethrow(kj::mv(e));
        });
      })
      .then([this, &units, base = kj::mv(base)]() {
        for (auto suffix : {".timer"_kj, ".service"_kj}) {
          auto path = pathOf(base, suffix);
          if (unlink(path.cStr()) < 0 && errno != ENOENT) {
            KJ_FAIL_SYSCALL("unlink", errno, path);
          }
        }
        return units.reload();
      });
}

}  // namespace taskctl
