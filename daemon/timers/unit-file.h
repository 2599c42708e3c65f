// The unit pair of one schedule (DESIGN 6, "Scheduled tasks"), as text: a
// pure function of what `taskctl schedule add` asked for. The timer fires the
// service; the service runs `taskctl submit` as the schedule's owner, with
// the submit options given to `schedule add` and `--label schedule=NAME`.
#pragma once

#include <capnp/message.h>
#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

#include "task-spec.capnp.h"

namespace taskctl {

struct ScheduleSpec {
  kj::String name;  // [a-zA-Z0-9_-]{1,64}
  uint32_t uid;     // the owner: from the caller's socket, never from a message
  kj::String onCalendar;
  bool persistent = false;
  uint64_t accuracyUsec = 0;  // 0: systemd's default (1min)
  // What each firing submits, in `message` (which moves with it): the argv, cwd, umask, queue,
  // priority, labels, limits, retry policy, key and onConflict of a task spec. Not its env (a
  // firing runs with the service's) nor when one task starts (after, delay, notBefore,
  // requestId): a schedule submits anew each time. setScheduleTask() keeps just these.
  kj::Own<capnp::MallocMessageBuilder> message = kj::heap<capnp::MallocMessageBuilder>(256);
  spec::TaskSpec::Builder task = message->initRoot<spec::TaskSpec>();
};

// Sets `spec.task` to what a firing submits again of `task` (above). Throws (KJ_REQUIRE, a
// message for a person) for an argument with a NUL, which a unit file cannot carry.
void setScheduleTask(ScheduleSpec& spec, spec::TaskSpec::Reader task);

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
