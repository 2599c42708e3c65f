// GCC 12 inlines the fake calendar check's kj::Promise<kj::Maybe<kj::String>> nodes deep enough
// to warn that a moved-from kj::String "may be used uninitialized": the known false positive of
// -Wmaybe-uninitialized with kj's ExceptionOr (as in bus/systemd-manager.c++).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "timers/schedules.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/durable-file.h"
#include "temp-dir.h"

namespace taskctl {
namespace {

// A fresh directory standing in for /etc/systemd/system.
struct UnitDir : TempDir {
  UnitDir() : TempDir("schedules-test") {}

  // Every file in it, sorted, space-separated: what a call left behind, temporary files too.
  kj::String listing() const {
    kj::Vector<kj::String> names;
    DIR* dir = opendir(path.cStr());
    KJ_ASSERT(dir != nullptr);
    KJ_DEFER(closedir(dir));
    while (struct dirent* entry = readdir(dir)) {
      kj::StringPtr name = entry->d_name;
      if (name != "." && name != "..") names.add(kj::str(name));
    }
    std::sort(names.begin(), names.end());
    return kj::strArray(names, " ");
  }
};

kj::String readFile(kj::StringPtr path) {
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_RDONLY | O_CLOEXEC), path);
  kj::AutoCloseFd file(fd);
  return kj::FdInputStream(file.get()).readAllText();
}

bool hasLine(kj::StringPtr text, kj::StringPtr line) {
  return strstr(kj::str("\n", text).cStr(), kj::str("\n", line, "\n").cStr()) != nullptr;
}

bool contains(kj::StringPtr text, kj::StringPtr part) {
  return strstr(text.cStr(), part.cStr()) != nullptr;
}

// systemd as Schedules sees it: records every call, in order, with the unit files present in
// the unit directory at the moment of the call (so a test sees "write, then act"), and refuses
// the one call it is told to.
class FakeSystemdUnits final : public SystemdUnits {
 public:
  explicit FakeSystemdUnits(const UnitDir& dir) : dir(dir) {}

  bool isConnected = true;
  // The call to refuse ("reload", "enable", "disable", "start", "stop", "times"), and how.
  kj::Maybe<kj::String> refuse;
  kj::Exception::Type refusalType = kj::Exception::Type::FAILED;
  TimerTimes times{1700000000000000, 1690000000000000};

  struct Call {
    kj::String what;   // "start taskctl-schedule-1000-tick.timer"; paths as DIR/...
    kj::String files;  // the unit directory's listing when it was made
  };
  kj::Vector<Call> calls;

  // The calls, "; "-separated, without the listings.
  kj::String log() const {
    auto whats = KJ_MAP(call, calls) { return kj::str(call.what); };
    return kj::strArray(whats, "; ");
  }

  bool connected() override { return isConnected; }
  kj::Promise<void> reload() override { return record("reload", nullptr); }
  kj::Promise<void> enableUnitFiles(kj::Array<kj::String> files) override {
    auto names = kj::strArray(
        KJ_MAP(f, files) { return relative(f); }, " ");
    return record("enable", names.asPtr());
  }
  kj::Promise<void> disableUnitFiles(kj::Array<kj::String> files) override {
    auto names = kj::strArray(
        KJ_MAP(f, files) { return relative(f); }, " ");
    return record("disable", names.asPtr());
  }
  kj::Promise<void> startUnit(kj::StringPtr unit) override { return record("start", unit); }
  kj::Promise<void> stopUnit(kj::StringPtr unit) override { return record("stop", unit); }
  kj::Promise<TimerTimes> timerTimes(kj::StringPtr unit) override {
    return record("times", unit).then([this]() { return times; });
  }

 private:
  const UnitDir& dir;

  kj::String relative(kj::StringPtr path) {
    if (path.startsWith(dir.path)) return kj::str("DIR", path.slice(dir.path.size()));
    return kj::str(path);
  }

  kj::Promise<void> record(kj::StringPtr verb, kj::Maybe<kj::StringPtr> argument) {
    auto what =
        argument == nullptr ? kj::str(verb) : kj::str(verb, " ", KJ_ASSERT_NONNULL(argument));
    calls.add(Call{kj::str(what), dir.listing()});
    KJ_IF_MAYBE (r, refuse) {
      if (*r == verb) {
        return kj::Exception(refusalType, __FILE__, __LINE__,
                             kj::str("systemd refused ", what, ": Access denied"));
      }
    }
    return kj::READY_NOW;
  }
};

// systemd-analyze as Schedules sees it: a verdict per spec (none: valid), and, while `hold` is
// set, answers that wait until the test releases them.
class FakeCalendarCheck final : public CalendarCheck {
 public:
  kj::Vector<kj::String> asked;
  kj::HashMap<kj::String, kj::String> verdicts;
  bool hold = false;

  kj::Promise<kj::Maybe<kj::String>> check(kj::StringPtr spec) override {
    asked.add(kj::str(spec));
    kj::Maybe<kj::String> verdict;
    KJ_IF_MAYBE (v, verdicts.find(spec)) verdict = kj::str(*v);
    if (!hold) return kj::mv(verdict);
    auto paf = kj::newPromiseAndFulfiller<kj::Maybe<kj::String>>();
    held.add(Held{kj::mv(paf.fulfiller), kj::mv(verdict)});
    return kj::mv(paf.promise);
  }

  void release() {
    for (auto& h : held) h.fulfiller->fulfill(kj::mv(h.verdict));
    held.clear();
  }

 private:
  struct Held {
    kj::Own<kj::PromiseFulfiller<kj::Maybe<kj::String>>> fulfiller;
    kj::Maybe<kj::String> verdict;
  };
  kj::Vector<Held> held;
};

constexpr uint32_t ANN = 1000;
constexpr uint32_t BOB = 1001;
constexpr uint32_t ROOT = 0;

ScheduleSpec tick(uint32_t uid = ANN, kj::StringPtr name = "tick") {
  ScheduleSpec spec;
  spec.name = kj::str(name);
  spec.uid = uid;
  spec.onCalendar = kj::str("*:*:0/10");
  spec.accuracyUsec = 1000000;
  auto argv = spec.task.initArgv(4);
  argv.set(0, "printf"_kj.asBytes());
  argv.set(1, "%s|"_kj.asBytes());
  argv.set(2, "two words"_kj.asBytes());
  argv.set(3, "$HOME"_kj.asBytes());
  spec.task.setCwd("/home/ann"_kj.asBytes());
  spec.task.setUmask(022);
  return spec;
}

class SchedulesTest : public testing::Test {
 protected:
  // gtest's destructors are noexcept; kj's event loop and interfaces are noexcept(false).
  ~SchedulesTest() noexcept override {}

  kj::EventLoop loop;
  kj::WaitScope waitScope{loop};
  UnitDir dir;
  FakeSystemdUnits units{dir};
  FakeCalendarCheck check;
  Schedules schedules{units, check, paths()};

  Schedules::Paths paths() {
    return Schedules::Paths{kj::str(dir.path), kj::str("/usr/bin/taskctl"),
                            kj::str("/run/taskctl/taskctl.sock")};
  }

  // How `call` ended: nullptr if it succeeded, else its exception, thrown at once or rejected
  // later. It is polled first, so a call that would hang fails the test instead of hanging it.
  template <typename Call>
  kj::Maybe<kj::Exception> outcome(Call&& call) {
    kj::Maybe<kj::Promise<void>> promise;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { promise = call(); })) return kj::mv(*e);
    auto& p = KJ_ASSERT_NONNULL(promise);
    if (!p.poll(waitScope)) {
      ADD_FAILURE() << "the call did not finish";
      return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("hung"));
    }
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { p.wait(waitScope); })) return kj::mv(*e);
    return nullptr;
  }

  // The description of how `call` failed; a call that succeeded fails the test.
  template <typename Call>
  kj::String failureOf(Call&& call) {
    KJ_IF_MAYBE (e, outcome(kj::fwd<Call>(call))) return kj::str(e->getDescription());
    ADD_FAILURE() << "the call succeeded";
    return kj::str();
  }

  void add(ScheduleSpec spec) {
    KJ_IF_MAYBE (e, outcome([&]() { return schedules.add(kj::mv(spec)); })) {
      ADD_FAILURE() << "add failed: " << e->getDescription().cStr();
    }
  }

  kj::Array<ScheduleInfo> list(kj::Maybe<uint32_t> uid) {
    auto promise = schedules.list(uid);
    KJ_ASSERT(promise.poll(waitScope), "list did not finish");
    return promise.wait(waitScope);
  }

  kj::String timerOf(uint32_t uid, kj::StringPtr name) {
    return dir / kj::str(scheduleUnitBase(uid, name), ".timer");
  }
  kj::String serviceOf(uint32_t uid, kj::StringPtr name) {
    return dir / kj::str(scheduleUnitBase(uid, name), ".service");
  }
  bool exists(kj::StringPtr path) {
    struct stat st;
    return lstat(path.cStr(), &st) == 0;
  }
};

TEST_F(SchedulesTest, AddWritesBothUnitFilesThenReloadsEnablesAndStartsTheTimer) {
  add(tick());

  EXPECT_EQ(dir.listing(), "taskctl-schedule-1000-tick.service taskctl-schedule-1000-tick.timer");
  auto timer = readFile(timerOf(ANN, "tick"));
  EXPECT_TRUE(hasLine(timer, "OnCalendar=*:*:0/10")) << timer.cStr();
  EXPECT_TRUE(hasLine(timer, "AccuracySec=1000000us")) << timer.cStr();
  EXPECT_TRUE(hasLine(timer, "Unit=taskctl-schedule-1000-tick.service")) << timer.cStr();
  auto service = readFile(serviceOf(ANN, "tick"));
  EXPECT_TRUE(hasLine(service, "User=1000")) << service.cStr();
  EXPECT_TRUE(hasLine(service, "WorkingDirectory=/home/ann")) << service.cStr();
  EXPECT_TRUE(hasLine(service, "Environment=\"TASKCTL_SOCKET=/run/taskctl/taskctl.sock\""))
      << service.cStr();
  EXPECT_TRUE(hasLine(service,
                      "ExecStart=\"/usr/bin/taskctl\" \"submit\" \"--label\" \"schedule=tick\" "
                      "\"--\" \"printf\" \"%%s|\" \"two words\" \"$$HOME\""))
      << service.cStr();
  struct stat st;
  ASSERT_EQ(stat(serviceOf(ANN, "tick").cStr(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  // systemd's verdict on the spec first, then, with both files in place, the three calls.
  ASSERT_EQ(check.asked.size(), 1u);
  EXPECT_EQ(check.asked[0], "*:*:0/10");
  EXPECT_EQ(units.log(),
            "reload; enable DIR/taskctl-schedule-1000-tick.timer; "
            "start taskctl-schedule-1000-tick.timer");
  EXPECT_EQ(units.calls[0].files,
            "taskctl-schedule-1000-tick.service taskctl-schedule-1000-tick.timer");
}

TEST_F(SchedulesTest, ABadCalendarSpecWritesNothingAndReportsTheCheckersVerdict) {
  auto spec = tick();
  spec.onCalendar = kj::str("not a spec");
  check.verdicts.insert(kj::str("not a spec"),
                        kj::str("Failed to parse calendar specification 'not a spec': Invalid "
                                "argument"));
  auto failure = failureOf([&]() { return schedules.add(kj::mv(spec)); });

  EXPECT_EQ(failure, "Failed to parse calendar specification 'not a spec': Invalid argument");
  EXPECT_EQ(dir.listing(), "");
  EXPECT_EQ(units.log(), "");
  // Refused, the name is free again.
  add(tick());
  EXPECT_EQ(list(ANN).size(), 1u);
}

TEST_F(SchedulesTest, ABadNameOrAMissingCommandIsRefusedBeforeAskingAnyone) {
  auto failure = failureOf([&]() { return schedules.add(tick(ANN, "../etc")); });
  EXPECT_TRUE(contains(failure, "a schedule name is 1 to 64")) << failure.cStr();
  auto spec = tick();
  spec.task.disownArgv();
  failure = failureOf([&]() { return schedules.add(kj::mv(spec)); });
  EXPECT_TRUE(contains(failure, "needs a command")) << failure.cStr();
  EXPECT_EQ(check.asked.size(), 0u);
  EXPECT_EQ(units.log(), "");
  EXPECT_EQ(dir.listing(), "");
}

TEST_F(SchedulesTest, ASecondAddOfANameIsRefusedForTheSameOwnerAndAllowedForAnother) {
  add(tick(ANN));
  units.calls.clear();
  auto again = tick(ANN);
  again.onCalendar = kj::str("daily");
  auto failure = failureOf([&]() { return schedules.add(kj::mv(again)); });
  EXPECT_EQ(failure, "schedule tick exists; remove it first (taskctl schedule remove tick)");
  EXPECT_EQ(units.log(), "");
  EXPECT_TRUE(hasLine(readFile(timerOf(ANN, "tick")), "OnCalendar=*:*:0/10"));

  add(tick(BOB));
  EXPECT_TRUE(exists(timerOf(BOB, "tick")));
  EXPECT_TRUE(exists(timerOf(ANN, "tick")));
}

TEST_F(SchedulesTest, AUserMayHoldAtMostMaxSchedulesPerUser) {
  auto origin = kj::origin<kj::TimePoint>();
  Schedules::Limits limits{2, 0};
  for (auto name : {"one", "two"}) {
    schedules.checkLimits(ANN, true, limits, origin);
    add(tick(ANN, name));
  }
  auto e = KJ_ASSERT_NONNULL(outcome([&]() {
    schedules.checkLimits(ANN, true, limits, origin);
    return kj::Promise<void>(kj::READY_NOW);
  }));
  EXPECT_EQ(e.getType(), kj::Exception::Type::OVERLOADED);
  EXPECT_EQ(e.getDescription(),
            "quota: user 1000 has 2 schedules, the limit (limits.max_schedules_per_user) is 2; "
            "remove one first");
  schedules.checkLimits(BOB, true, limits, origin);   // Bob has his own
  schedules.checkLimits(ANN, false, limits, origin);  // a remove is always allowed
}

TEST_F(SchedulesTest, ScheduleChangesPerMinuteAreCappedPerUser) {
  auto t = kj::origin<kj::TimePoint>();
  Schedules::Limits limits{0, 3};
  for (int i = 0; i < 3; i++) schedules.checkLimits(ANN, i % 2 == 0, limits, t + i * kj::SECONDS);
  auto refused = [&](kj::TimePoint when) -> kj::Maybe<kj::Exception> {
    return outcome([&]() {
      schedules.checkLimits(ANN, false, limits, when);
      return kj::Promise<void>(kj::READY_NOW);
    });
  };
  auto e = KJ_ASSERT_NONNULL(refused(t + 10 * kj::SECONDS));
  EXPECT_EQ(e.getType(), kj::Exception::Type::OVERLOADED);
  EXPECT_EQ(e.getDescription(),
            "too many schedule changes: user 1000 made 3 in the last minute, the limit "
            "(limits.schedule_changes_per_minute) is 3 (each reloads systemd); try again in 51 s");
  schedules.checkLimits(BOB, true, limits, t + 10 * kj::SECONDS);  // per user
  // A minute after the first change, one more is allowed.
  EXPECT_TRUE(refused(t + 60 * kj::SECONDS) == nullptr);
  EXPECT_TRUE(refused(t + 61 * kj::SECONDS) == nullptr);
  EXPECT_TRUE(refused(t + 61 * kj::SECONDS) != nullptr);
}

TEST_F(SchedulesTest, ASecondAddWhileTheFirstIsBeingCheckedIsRefused) {
  check.hold = true;
  auto first = schedules.add(tick());
  EXPECT_FALSE(first.poll(waitScope));  // waiting for the calendar check: no file yet
  EXPECT_EQ(dir.listing(), "");
  auto failure = failureOf([&]() { return schedules.add(tick()); });
  EXPECT_TRUE(contains(failure, "schedule tick exists")) << failure.cStr();
  check.release();
  ASSERT_TRUE(first.poll(waitScope));
  first.wait(waitScope);
  EXPECT_EQ(units.log(),
            "reload; enable DIR/taskctl-schedule-1000-tick.timer; "
            "start taskctl-schedule-1000-tick.timer");
}

// systemd refusing any of the three calls after the files were written: nothing stays behind
// (files, enablement link, a started timer), and the caller gets systemd's own words.
class SchedulesRefusedTest : public SchedulesTest, public testing::WithParamInterface<const char*> {
 protected:
  ~SchedulesRefusedTest() noexcept override {}
};

TEST_P(SchedulesRefusedTest, SystemdRefusingAfterTheFilesWereWrittenRemovesThemAgain) {
  kj::StringPtr refused = GetParam();
  units.refuse = kj::str(refused);
  auto failure = failureOf([&]() { return schedules.add(tick()); });

  EXPECT_TRUE(failure.startsWith(kj::str("systemd refused ", refused))) << failure.cStr();
  EXPECT_EQ(dir.listing(), "");
  ASSERT_GE(units.calls.size(), 2u);
  // Each call was made with both files in place, up to the refused one.
  EXPECT_EQ(units.calls[0].what, "reload");
  EXPECT_EQ(units.calls[0].files,
            "taskctl-schedule-1000-tick.service taskctl-schedule-1000-tick.timer");
  // Then undone as a remove would: the timer stopped and disabled (the enable may have linked
  // it into timers.target.wants, the start may have started it), the files deleted, and a reload
  // once they are gone.
  auto log = units.log();
  EXPECT_TRUE(
      log.endsWith("; stop taskctl-schedule-1000-tick.timer; "
                   "disable DIR/taskctl-schedule-1000-tick.timer; reload"))
      << log.cStr();
  ASSERT_GE(units.calls.size(), 4u);
  EXPECT_EQ(units.calls[units.calls.size() - 2].files,
            "taskctl-schedule-1000-tick.service taskctl-schedule-1000-tick.timer");
  EXPECT_EQ(units.calls.back().files, "") << log.cStr();
  // And the name is free for a new try.
  units.refuse = nullptr;
  add(tick());
  EXPECT_EQ(list(ANN).size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(EachCall, SchedulesRefusedTest,
                         testing::Values("reload", "enable", "start"));

TEST_F(SchedulesTest, ListReturnsTheCallersSchedulesOrEveryonesForNullptr) {
  add(tick(BOB, "tick"));
  add(tick(ANN, "tick"));
  auto alpha = tick(ANN, "alpha");
  alpha.onCalendar = kj::str("Mon *-*-* 03:00");
  add(kj::mv(alpha));
  // Not ours: never listed.
  writeFileAtomically(dir / "apt-daily.timer",
                      kj::StringPtr("[Timer]\nOnCalendar=daily\n").asBytes(), 0644);
  units.calls.clear();

  auto mine = list(ANN);
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].name, "alpha");
  EXPECT_EQ(mine[0].uid, ANN);
  EXPECT_EQ(mine[0].onCalendar, "Mon *-*-* 03:00");
  EXPECT_EQ(mine[0].timerUnit, "taskctl-schedule-1000-alpha.timer");
  EXPECT_EQ(mine[0].serviceUnit, "taskctl-schedule-1000-alpha.service");
  EXPECT_EQ(mine[0].times.nextUsec, units.times.nextUsec);
  EXPECT_EQ(mine[0].times.lastUsec, units.times.lastUsec);
  EXPECT_EQ(mine[1].name, "tick");
  EXPECT_EQ(mine[1].uid, ANN);
  EXPECT_EQ(mine[1].onCalendar, "*:*:0/10");

  auto bobs = list(BOB);
  ASSERT_EQ(bobs.size(), 1u);
  EXPECT_EQ(bobs[0].name, "tick");
  EXPECT_EQ(bobs[0].uid, BOB);
  EXPECT_EQ(list(4242).size(), 0u);

  auto everyone = list(nullptr);
  ASSERT_EQ(everyone.size(), 3u);
  auto keys = KJ_MAP(s, everyone) { return kj::str(s.uid, ":", s.name); };
  EXPECT_EQ(kj::strArray(keys, " "), "1000:alpha 1000:tick 1001:tick");
  // Listing asks systemd for times only, and changes nothing.
  for (auto& call : units.calls) EXPECT_TRUE(call.what.startsWith("times ")) << call.what.cStr();
}

TEST_F(SchedulesTest, ListShowsASchedulesWithoutTimesWhenSystemdCannotSay) {
  add(tick());
  units.refuse = kj::str("times");
  auto mine = list(ANN);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].name, "tick");
  EXPECT_EQ(mine[0].times.nextUsec, 0u);
  EXPECT_EQ(mine[0].times.lastUsec, 0u);
}

TEST_F(SchedulesTest, RemoveStopsDisablesDeletesBothFilesAndReloads) {
  add(tick(ANN, "tick"));
  add(tick(ANN, "other"));
  units.calls.clear();
  KJ_IF_MAYBE (e, outcome([&]() { return schedules.remove(ANN, false, "tick"); })) {
    FAIL() << e->getDescription().cStr();
  }
  EXPECT_EQ(units.log(),
            "stop taskctl-schedule-1000-tick.timer; "
            "disable DIR/taskctl-schedule-1000-tick.timer; reload");
  // Stopped and disabled while its files were there; the reload after they were gone.
  EXPECT_TRUE(contains(units.calls[1].files, "taskctl-schedule-1000-tick.timer"));
  EXPECT_EQ(units.calls[2].files,
            "taskctl-schedule-1000-other.service taskctl-schedule-1000-other.timer");
  EXPECT_EQ(dir.listing(), "taskctl-schedule-1000-other.service taskctl-schedule-1000-other.timer");
}

TEST_F(SchedulesTest, RemoveGoesOnWhenSystemdNoLongerKnowsTheTimer) {
  add(tick());
  units.calls.clear();
  units.refuse = kj::str("stop");  // NoSuchUnit: already stopped
  KJ_IF_MAYBE (e, outcome([&]() { return schedules.remove(ANN, false, "tick"); })) {
    FAIL() << e->getDescription().cStr();
  }
  EXPECT_EQ(dir.listing(), "");
  EXPECT_EQ(units.calls.back().what, "reload");
}

TEST_F(SchedulesTest, RemoveKeepsTheFilesWhenSystemdIsAway) {
  add(tick());
  units.calls.clear();
  units.refuse = kj::str("stop");
  units.refusalType = kj::Exception::Type::DISCONNECTED;
  auto e = KJ_ASSERT_NONNULL(outcome([&]() { return schedules.remove(ANN, false, "tick"); }));
  EXPECT_EQ(e.getType(), kj::Exception::Type::DISCONNECTED);
  // Deleting them now would leave a running timer without its files: try again later.
  EXPECT_EQ(dir.listing(), "taskctl-schedule-1000-tick.service taskctl-schedule-1000-tick.timer");
  EXPECT_EQ(units.log(), "stop taskctl-schedule-1000-tick.timer");
}

TEST_F(SchedulesTest, AForeignScheduleReadsExactlyLikeAMissingOne) {
  auto missing = KJ_ASSERT_NONNULL(outcome([&]() { return schedules.remove(BOB, false, "tick"); }));
  add(tick(ANN));
  units.calls.clear();
  auto foreign = KJ_ASSERT_NONNULL(outcome([&]() { return schedules.remove(BOB, false, "tick"); }));

  EXPECT_EQ(foreign.getType(), missing.getType());
  EXPECT_EQ(kj::str(foreign.getDescription()), kj::str(missing.getDescription()));
  EXPECT_EQ(kj::str(foreign.getDescription()), "no such schedule: tick");
  EXPECT_EQ(units.log(), "");
  EXPECT_TRUE(exists(timerOf(ANN, "tick")));
  EXPECT_TRUE(exists(serviceOf(ANN, "tick")));
  // Nor does it show in Bob's list.
  EXPECT_EQ(list(BOB).size(), 0u);
}

TEST_F(SchedulesTest, RemoveRefusesABadNameBeforeLookingAtFiles) {
  add(tick());
  units.calls.clear();
  auto failure = failureOf([&]() { return schedules.remove(ROOT, true, "../x"); });
  EXPECT_TRUE(contains(failure, "a schedule name is 1 to 64")) << failure.cStr();
  EXPECT_EQ(units.log(), "");
}

TEST_F(SchedulesTest, APrivilegedCallerRemovesTheOneOtherUsersScheduleOfThatName) {
  add(tick(ANN, "tick"));
  add(tick(BOB, "other"));
  units.calls.clear();
  KJ_IF_MAYBE (e, outcome([&]() { return schedules.remove(ROOT, true, "tick"); })) {
    FAIL() << e->getDescription().cStr();
  }
  EXPECT_FALSE(exists(timerOf(ANN, "tick")));
  EXPECT_FALSE(exists(serviceOf(ANN, "tick")));
  EXPECT_TRUE(exists(timerOf(BOB, "other")));
  EXPECT_EQ(units.log(),
            "stop taskctl-schedule-1000-tick.timer; "
            "disable DIR/taskctl-schedule-1000-tick.timer; reload");
  // Not a privileged caller: the same request reads like a missing schedule.
  auto failure = failureOf([&]() { return schedules.remove(ANN, false, "other"); });
  EXPECT_EQ(failure, "no such schedule: other");
  EXPECT_TRUE(exists(timerOf(BOB, "other")));
}

TEST_F(SchedulesTest, APrivilegedCallersOwnScheduleComesFirst) {
  add(tick(ANN, "tick"));
  add(tick(ROOT, "tick"));
  KJ_IF_MAYBE (e, outcome([&]() { return schedules.remove(ROOT, true, "tick"); })) {
    FAIL() << e->getDescription().cStr();
  }
  EXPECT_FALSE(exists(timerOf(ROOT, "tick")));
  EXPECT_TRUE(exists(timerOf(ANN, "tick")));
}

TEST_F(SchedulesTest, APrivilegedCallerIsRefusedWhenSeveralOthersHaveThatName) {
  add(tick(ANN, "tick"));
  add(tick(BOB, "tick"));
  units.calls.clear();
  auto failure = failureOf([&]() { return schedules.remove(ROOT, true, "tick"); });
  EXPECT_EQ(failure,
            "several users have a schedule tick (uids 1000, 1001); say whose: taskctl schedule "
            "remove tick --user UID");
  EXPECT_EQ(units.log(), "");
  EXPECT_TRUE(exists(timerOf(ANN, "tick")));
  EXPECT_TRUE(exists(timerOf(BOB, "tick")));
}

TEST_F(SchedulesTest, APrivilegedCallerSaysWhoseWithAnOwner) {
  add(tick(ANN, "tick"));
  add(tick(BOB, "tick"));
  add(tick(ROOT, "tick"));
  units.calls.clear();
  KJ_IF_MAYBE (e, outcome([&]() { return schedules.remove(ROOT, true, "tick", BOB); })) {
    FAIL() << e->getDescription().cStr();
  }
  EXPECT_EQ(units.log(),
            "stop taskctl-schedule-1001-tick.timer; "
            "disable DIR/taskctl-schedule-1001-tick.timer; reload");
  EXPECT_EQ(dir.listing(),
            "taskctl-schedule-0-tick.service taskctl-schedule-0-tick.timer "
            "taskctl-schedule-1000-tick.service taskctl-schedule-1000-tick.timer");
  // An owner without a schedule of that name: said so, and nothing else is taken instead (not
  // the caller's own, not the one other user's).
  units.calls.clear();
  auto failure = failureOf([&]() { return schedules.remove(ROOT, true, "tick", BOB); });
  EXPECT_EQ(failure, "no such schedule: tick of uid 1001");
  failure = failureOf([&]() { return schedules.remove(ROOT, true, "tick", 4242); });
  EXPECT_EQ(failure, "no such schedule: tick of uid 4242");
  EXPECT_EQ(units.log(), "");
  EXPECT_TRUE(exists(timerOf(ROOT, "tick")));
  EXPECT_TRUE(exists(timerOf(ANN, "tick")));
}

TEST_F(SchedulesTest, APrivilegedCallerNamingThemselvesGetsOnlyTheirOwn) {
  add(tick(ANN, "tick"));
  auto failure = failureOf([&]() { return schedules.remove(ROOT, true, "tick", ROOT); });
  EXPECT_EQ(failure, "no such schedule: tick");
  EXPECT_TRUE(exists(timerOf(ANN, "tick")));
}

TEST_F(SchedulesTest, AnyoneMayNameThemselvesAsTheOwner) {
  add(tick(ANN, "tick"));
  add(tick(BOB, "tick"));
  KJ_IF_MAYBE (e, outcome([&]() { return schedules.remove(ANN, false, "tick", ANN); })) {
    FAIL() << e->getDescription().cStr();
  }
  EXPECT_FALSE(exists(timerOf(ANN, "tick")));
  EXPECT_TRUE(exists(timerOf(BOB, "tick")));
  // And a missing one of their own reads as it does without --user.
  auto withOwner = failureOf([&]() { return schedules.remove(ANN, false, "tick", ANN); });
  auto without = failureOf([&]() { return schedules.remove(ANN, false, "tick"); });
  EXPECT_EQ(withOwner, without);
  EXPECT_EQ(withOwner, "no such schedule: tick");
}

TEST_F(SchedulesTest, AnUnprivilegedCallerNamingAnotherOwnerIsDeniedWhateverThatOwnerHas) {
  add(tick(BOB, "tick"));
  units.calls.clear();
  // Bob's tick, and a name Bob does not have: the same refusal, so it tells Ann nothing.
  auto existing =
      KJ_ASSERT_NONNULL(outcome([&]() { return schedules.remove(ANN, false, "tick", BOB); }));
  auto missing =
      KJ_ASSERT_NONNULL(outcome([&]() { return schedules.remove(ANN, false, "nope", BOB); }));
  EXPECT_EQ(kj::str(existing.getDescription()),
            "permission denied: only root and the admin group (access.admin_group) may remove "
            "another user's schedule");
  EXPECT_EQ(kj::str(missing.getDescription()), kj::str(existing.getDescription()));
  EXPECT_EQ(missing.getType(), existing.getType());
  EXPECT_EQ(units.log(), "");
  EXPECT_TRUE(exists(timerOf(BOB, "tick")));
  EXPECT_TRUE(exists(serviceOf(BOB, "tick")));
}

TEST_F(SchedulesTest, WithoutSystemdEveryCallRefusesAndSaysWhy) {
  Schedules without(nullptr, check, paths());
  kj::Vector<kj::String> failures;
  failures.add(failureOf([&]() { return without.add(tick()); }));
  failures.add(failureOf([&]() { return without.list(ANN).ignoreResult(); }));
  failures.add(failureOf([&]() { return without.list(nullptr).ignoreResult(); }));
  failures.add(failureOf([&]() { return without.remove(ROOT, true, "tick"); }));
  for (auto& failure : failures) {
    EXPECT_TRUE(failure.startsWith("schedules need systemd: taskctld runs without it"))
        << failure.cStr();
  }
  EXPECT_EQ(check.asked.size(), 0u);
  EXPECT_EQ(dir.listing(), "");
}

TEST_F(SchedulesTest, WhileSystemdIsOffTheBusEveryCallAsksToTryAgain) {
  add(tick());
  units.calls.clear();
  units.isConnected = false;
  kj::Vector<kj::Exception> failures;
  failures.add(KJ_ASSERT_NONNULL(outcome([&]() { return schedules.add(tick(ANN, "x")); })));
  failures.add(KJ_ASSERT_NONNULL(outcome([&]() { return schedules.list(ANN).ignoreResult(); })));
  failures.add(KJ_ASSERT_NONNULL(outcome([&]() { return schedules.remove(ANN, false, "tick"); })));
  for (auto& e : failures) {
    // OVERLOADED: taskctl exits 75, "retry later".
    EXPECT_EQ(e.getType(), kj::Exception::Type::OVERLOADED);
    EXPECT_TRUE(contains(e.getDescription(), "not on the system bus right now; try again"))
        << e.getDescription().cStr();
  }
  EXPECT_EQ(units.log(), "");
  EXPECT_EQ(dir.listing(), "taskctl-schedule-1000-tick.service taskctl-schedule-1000-tick.timer");
}

}  // namespace
}  // namespace taskctl
