// The unit pair of one schedule (DESIGN 6, "Scheduled tasks"), as text: a
// pure function of what `taskctl schedule add` asked for. The timer fires the
// service; the service runs `taskctl submit` as the schedule's owner, with
// the submit options given to `schedule add` and `--label schedule=NAME`.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace taskctl {

struct ScheduleLabel {
  kj::String key;
  kj::String value;
};

// --retries with its conditions, as taskctl submit takes them again.
struct ScheduleRetry {
  uint32_t retries = 0;
  bool onExit = false;
  kj::Array<int32_t> exitCodes;  // with onExit: empty means any non-zero code
  bool onSignal = false;
  bool onOom = false;
  bool onTimeout = false;
  bool onHeartbeat = false;
  bool onLost = false;
  uint64_t backoffBaseUsec = 0;  // 0: the default
  uint64_t backoffMaxUsec = 0;
};

struct ScheduleSpec {
  kj::String name;  // [a-zA-Z0-9_-]{1,64}
  uint32_t uid;     // the owner: from the caller's socket, never from a message
  kj::String onCalendar;
  bool persistent = false;
  uint64_t accuracyUsec = 0;  // 0: systemd's default (1min)
  // What each firing submits.
  kj::String queue;  // empty: the default queue
  int32_t priority = 0;
  kj::Vector<ScheduleLabel> labels;
  uint64_t timeoutUsec = 0;
  uint64_t killGraceUsec = 0;
  uint64_t heartbeatUsec = 0;
  uint64_t cpuQuotaPerSecUsec = 0;
  uint64_t memoryMaxBytes = 0;
  uint64_t tasksMax = 0;
  kj::Maybe<ScheduleRetry> retry;
  kj::String key;         // empty: none
  kj::String onConflict;  // with a key: queue, skip or replace
  kj::Array<kj::String> argv;
  kj::String cwd;
  uint32_t umask = 022;
};

// A refusal for a person if `name` is not [a-zA-Z0-9_-]{1,64}, else nullptr.
kj::Maybe<kj::String> checkScheduleName(kj::StringPtr name);

// "taskctl-schedule-<uid>-<name>": the unit pair's name without its suffix.
kj::String scheduleUnitBase(uint32_t uid, kj::StringPtr name);

// The owner and name a unit file name of ours encodes
// ("taskctl-schedule-1000-tick.timer"); nullptr for any other file.
struct ScheduleKey {
  uint32_t uid;
  kj::String name;
};
kj::Maybe<ScheduleKey> parseScheduleUnit(kj::StringPtr fileName, kj::StringPtr suffix);

// One argument as systemd's ExecStart= reads it back unchanged: in double
// quotes, `\` and `"` escaped, `%` as `%%` (specifiers), `$` as `$$`
// (variable expansion), control and non-ASCII bytes as \xNN.
kj::String execStartQuote(kj::ArrayPtr<const char> argument);

// The argv the service runs: TASKCTL submit --label schedule=NAME [options] -- CMD...
kj::Array<kj::String> scheduleSubmitArgv(const ScheduleSpec& spec, kj::StringPtr taskctlPath);

// The unit files' text. Throws (KJ_REQUIRE, a message for a person) for
// what a unit file cannot carry: a control character in the calendar spec
// or the directory, a label key "schedule".
kj::String scheduleTimerUnit(const ScheduleSpec& spec);
kj::String scheduleServiceUnit(const ScheduleSpec& spec, kj::StringPtr taskctlPath,
                               kj::StringPtr socketPath);

// OnCalendar= as written in a timer unit's text ("" if none).
kj::String timerOnCalendar(kj::StringPtr unitText);

}  // namespace taskctl
