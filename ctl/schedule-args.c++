// `taskctl schedule add|list|remove`.
#include "arg-reader.h"
#include "common/units.h"

namespace taskctl {
namespace cmdline {

namespace {

kj::String scheduleName(kj::StringPtr name) {
  bool ok = name.size() >= 1 && name.size() <= 64;
  for (char c : name) {
    ok = ok &&
         ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '_' || c == '-');
  }
  if (!ok) refuse(kj::str("a schedule name is 1 to 64 of a-z A-Z 0-9 _ -, not '", name, "'"));
  return kj::heapString(name);
}

ScheduleRemoveArgs scheduleRemove(ArgReader& in) {
  ScheduleRemoveArgs result;
  kj::Vector<kj::StringPtr> names;
  in.walk(
      [&](const Option& option) {
        if (option.name != "--user") return false;
        auto text = in.valueOf(option);
        if (text.size() == 0) refuse(kj::str("--user needs a user name or a numeric uid"));
        result.user = kj::heapString(text);
        return true;
      },
      [&](kj::StringPtr arg) { names.add(arg); });
  if (names.size() != 1) {
    refuse(
        kj::str("schedule remove needs exactly one name: taskctl schedule remove NAME "
                "[--user USER]"));
  }
  result.name = scheduleName(names[0]);
  return result;
}

ScheduleAddArgs scheduleAdd(ArgReader& in) {
  ScheduleAddArgs result;
  // NAME first (global options may come before it), then the options.
  for (;;) {
    KJ_IF_MAYBE (arg, in.next()) {
      KJ_IF_MAYBE (option, asOption(*arg)) {
        if (!in.takeGlobal(*option)) {
          refuse(
              kj::str("schedule add needs the NAME first: taskctl schedule add NAME "
                      "--on-calendar SPEC [OPTIONS] -- CMD [ARGS...]"));
        }
        continue;
      }
      result.name = scheduleName(*arg);
      break;
    }
    refuse(
        kj::str("schedule add needs a name: taskctl schedule add NAME --on-calendar SPEC "
                "[OPTIONS] -- CMD [ARGS...]"));
  }
  bool calendarGiven = false;
  // The submit options, with --wait and the ones about one task's start refused: a schedule
  // submits anew each time.
  result.submit = parseSubmit(in, [&](const Option& option) {
    if (option.name == "--on-calendar") {
      auto text = in.valueOf(option);
      if (text.size() == 0) refuse(kj::str("--on-calendar needs a calendar spec like daily"));
      result.onCalendar = kj::heapString(text);
      calendarGiven = true;
    } else if (option.name == "--persistent") {
      in.flag(option);
      result.persistent = true;
    } else if (option.name == "--accuracy") {
      result.accuracyUsec = in.limit(option, parseDurationUsec, "a duration like 1s or 5m");
    } else if (option.name == "--wait" || option.name == "--in" || option.name == "--at" ||
               option.name == "--after" || option.name == "--request-id") {
      refuse(kj::str(option.name,
                     " does not apply to a schedule (each firing submits a new "
                     "task)"));
    } else {
      return false;
    }
    return true;
  });
  if (!calendarGiven) {
    refuse(
        kj::str("schedule add needs --on-calendar SPEC (systemd.time(7): daily, "
                "'Mon *-*-* 03:00', '*:*:0/10')"));
  }
  for (auto label : result.submit.spec.getLabels()) {
    if (label.getKey() == "schedule") {
      refuse(kj::str("the label schedule=NAME is set by taskctl; choose another key"));
    }
  }
  return result;
}

}  // namespace

CommandArgs parseSchedule(ArgReader& in) {
  auto subcommand = in.subcommand("schedule needs a subcommand: add, list or remove");
  if (subcommand == "list") {
    in.walk([](const Option&) { return false; },
            [&](kj::StringPtr arg) -> void {
              refuse(kj::str("schedule list takes no arguments, got '", arg, "'"));
            });
    return ScheduleListArgs{};
  }
  if (subcommand == "remove") return scheduleRemove(in);
  if (subcommand != "add") {
    refuse(kj::str("unknown schedule subcommand '", subcommand, "' (add, list or remove)"));
  }
  return scheduleAdd(in);
}

}  // namespace cmdline
}  // namespace taskctl
