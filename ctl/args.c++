#include "args.h"

#include <kj/debug.h>

#include "arg-reader.h"
#include "common/units.h"

namespace taskctl {

using namespace cmdline;

namespace {

// status, list, wait, cancel, logs, watch and progress; submit, queue and schedule have files of
// their own (submit-args.c++, queue-args.c++, schedule-args.c++).

StatusArgs status(ArgReader& in) {
  StatusArgs result;
  kj::Vector<uint64_t> found;
  in.walk(
      [&](const Option& option) {
        if (option.name != "--env") return false;
        in.flag(option);
        result.withEnv = true;
        return true;
      },
      [&](kj::StringPtr arg) { found.add(in.id(arg)); });
  if (found.size() != 1) refuse(kj::str("status needs exactly one task id"));
  result.id = found[0];
  return result;
}

ListArgs list(ArgReader& in) {
  ListArgs result;
  in.walk(
      [&](const Option& option) {
        if (option.name == "--state") {
          result.state = kj::heapString(in.valueOf(option));
        } else if (option.name == "--queue") {
          result.queue = kj::heapString(in.valueOf(option));
        } else if (option.name == "--label") {
          result.labels.add(in.label(option));
        } else if (option.name == "--all-users") {
          in.flag(option);
          result.allUsers = true;
        } else if (option.name == "--limit") {
          auto text = in.valueOf(option);
          auto value = parseUnsigned(text).orDefault(0);
          if (value == 0 || value > UINT32_MAX) {
            refuse(kj::str("--limit needs a number of tasks from 1, not '", text, "'"));
          }
          result.limit = static_cast<uint32_t>(value);
        } else {
          return false;
        }
        return true;
      },
      [&](kj::StringPtr arg) -> void {
        refuse(kj::str("list takes no arguments, got '", arg, "'"));
      });
  return result;
}

WaitArgs wait(ArgReader& in) {
  WaitArgs result;
  kj::Vector<uint64_t> found;
  in.walk(
      [&](const Option& option) {
        if (option.name != "--timeout") return false;
        result.timeoutUsec = in.limit(option, parseDurationUsec, "a duration like 30s, 10m or 2h");
        return true;
      },
      [&](kj::StringPtr arg) { found.add(in.id(arg)); });
  if (found.size() == 0) refuse(kj::str("wait needs at least one task id"));
  result.ids = found.releaseAsArray();
  return result;
}

WhyArgs why(ArgReader& in) {
  kj::Vector<uint64_t> found;
  in.walk([](const Option&) { return false; }, [&](kj::StringPtr arg) { found.add(in.id(arg)); });
  if (found.size() != 1) refuse(kj::str("why needs exactly one task id"));
  return WhyArgs{found[0]};
}

DrainArgs drain(ArgReader& in, bool drained) {
  DrainArgs result{drained};
  in.walk(
      [&](const Option& option) {
        if (!drained || option.name != "--wait") return false;
        in.flag(option);
        result.wait = true;
        return true;
      },
      [&](kj::StringPtr arg) {
        refuse(kj::str(drained ? "drain" : "undrain", " takes no argument ('", arg, "')"));
      });
  return result;
}

UpdateArgs update(ArgReader& in) {
  UpdateArgs result;
  kj::Vector<uint64_t> found;
  bool any = false;
  in.walk(
      [&](const Option& option) {
        if (option.name == "--timeout") {
          // "+DUR" adds to the current timeout; "DUR" replaces it (from the attempt's start).
          auto text = in.valueOf(option);
          result.timeoutRelative = text.startsWith("+");
          kj::Maybe<uint64_t> value = parseDurationUsec(text.slice(result.timeoutRelative));
          KJ_IF_MAYBE (v, value) result.timeoutUsec = *v;
          if (result.timeoutUsec == 0) {
            refuse(
                kj::str("--timeout must be a duration like 3h, or +1h to add to the current "
                        "one, not '",
                        text, "'"));
          }
        } else if (option.name == "--memory") {
          result.memoryMaxBytes = in.limit(option, parseBytes, "a size like 4G");
        } else if (option.name == "--cpu") {
          result.cpuQuotaPerSecUsec = in.limit(option, parseCpuQuotaPerSecUsec,
                                               "a share of one CPU like 150% (200% for two CPUs)");
        } else if (option.name == "--tasks-max") {
          result.tasksMax = in.limit(option, parseUnsigned, "a number of processes like 100");
        } else if (option.name == "--heartbeat" || option.name == "--kill-grace") {
          refuse(kj::str("update cannot change ", option.name,
                         ": the task got it at its start (see taskctl(1), update)"));
        } else {
          return false;
        }
        any = true;
        return true;
      },
      [&](kj::StringPtr arg) { found.add(in.id(arg)); });
  if (found.size() != 1) refuse(kj::str("update needs exactly one task id"));
  if (!any) refuse(kj::str("update needs --timeout, --memory, --cpu or --tasks-max"));
  result.id = found[0];
  return result;
}

kj::Array<uint64_t> ids(ArgReader& in, kj::StringPtr command) {
  kj::Vector<uint64_t> found;
  in.walk([](const Option&) { return false; }, [&](kj::StringPtr arg) { found.add(in.id(arg)); });
  if (found.size() == 0) refuse(kj::str(command, " needs at least one task id"));
  return found.releaseAsArray();
}

LogsArgs logs(ArgReader& in) {
  LogsArgs result;
  kj::Vector<uint64_t> found;
  in.walk(
      [&](const Option& option) {
        if (option.name == "--attempt") {
          auto text = in.valueOf(option);
          auto value = parseUnsigned(text).orDefault(uint64_t(UINT32_MAX) + 1);
          if (value > UINT32_MAX) {
            refuse(kj::str("--attempt needs an attempt number, not '", text, "'"));
          }
          result.attempt = static_cast<uint32_t>(value);
        } else if (option.name == "-f" || option.name == "--follow") {
          in.flag(option);
          result.follow = true;
        } else {
          return false;
        }
        return true;
      },
      [&](kj::StringPtr arg) { found.add(in.id(arg)); });
  if (found.size() != 1) refuse(kj::str("logs needs exactly one task id"));
  result.id = found[0];
  return result;
}

WatchArgs watch(ArgReader& in) {
  WatchArgs result;
  kj::Vector<uint64_t> found;
  in.walk(
      [&](const Option& option) {
        if (option.name == "--from") {
          auto text = in.valueOf(option);
          // 0 would read as "from now", which --from never means: leave it out for that.
          auto value = parseUnsigned(text).orDefault(0);
          if (value == 0) {
            refuse(
                kj::str("--from needs a sequence number from 1 (status and list --json show "
                        "last_seq), not '",
                        text, "'"));
          }
          result.from = value;
        } else if (option.name == "--progress") {
          in.flag(option);
          result.progress = true;
        } else {
          return false;
        }
        return true;
      },
      [&](kj::StringPtr arg) { found.add(in.id(arg)); });
  result.ids = found.releaseAsArray();
  return result;
}

ProgressArgs progress(ArgReader& in) {
  // Options first; then FRACTION, which may look like one ("-0.5" deserves the range message,
  // not "unknown option"); then TEXT taken as it is, whatever it starts with.
  kj::Maybe<kj::StringPtr> fractionText;
  while (!in.atEnd()) {
    kj::StringPtr arg = KJ_ASSERT_NONNULL(in.next());
    if (arg == "--") break;
    bool numeric = arg.size() > 1 && arg[0] == '-' && (isDigit(arg[1]) || arg[1] == '.');
    KJ_IF_MAYBE (option, asOption(arg)) {
      if (!numeric) {
        if (!in.takeGlobal(*option)) in.unknownOption(*option);
        continue;
      }
    }
    fractionText = arg;
    break;
  }
  if (fractionText == nullptr) fractionText = in.next();
  KJ_IF_MAYBE (text, fractionText) {
    ProgressArgs result;
    KJ_IF_MAYBE (fraction, parseProgressFraction(*text)) {
      result.fraction = *fraction;
    } else {
      refuse(
          kj::str("progress must be a fraction from 0 to 1 like 0.4, or a percentage like "
                  "40%, not '",
                  *text, "'"));
    }
    KJ_IF_MAYBE (status, in.next()) {
      if (status->findFirst('\n') != nullptr) refuse(kj::str("progress TEXT must be one line"));
      if (!isUtf8(*status)) refuse(kj::str("progress TEXT must be UTF-8 text"));
      result.text = kj::heapString(*status);
    }
    if (!in.atEnd()) {
      refuse(kj::str("progress takes FRACTION and one TEXT; quote the text if it has spaces"));
    }
    return result;
  }
  refuse(kj::str("progress needs a fraction: taskctl progress FRACTION [TEXT]"));
}

Invocation parse(ArgReader& in) {
  // Global options come first; the first argument that is not an option names the command.
  kj::StringPtr name;
  for (;;) {
    KJ_IF_MAYBE (arg, in.next()) {
      KJ_IF_MAYBE (option, asOption(*arg)) {
        if (option->name == "--version") {
          return Invocation{kj::mv(in.global), VersionArgs{}};
        }
        if (!in.takeGlobal(*option)) in.unknownOption(*option);
        continue;
      }
      name = *arg;
      break;
    } else {
      throw Refusal{kj::str("missing command"), true};
    }
  }

  auto command = [&]() -> CommandArgs {
    if (name == "submit") return parseSubmit(in, [](const Option&) { return false; });
    if (name == "status") return status(in);
    if (name == "list") return list(in);
    if (name == "wait") return wait(in);
    if (name == "cancel") return CancelArgs{ids(in, "cancel")};
    if (name == "logs") return logs(in);
    if (name == "watch") return watch(in);
    if (name == "progress") return progress(in);
    if (name == "queue") return parseQueue(in);
    if (name == "schedule") return parseSchedule(in);
    if (name == "hold") return HoldArgs{ids(in, "hold"), true};
    if (name == "release") return HoldArgs{ids(in, "release"), false};
    if (name == "pause") return PauseArgs{ids(in, "pause"), true};
    if (name == "resume") return PauseArgs{ids(in, "resume"), false};
    if (name == "why") return why(in);
    if (name == "rerun") return parseRerun(in);
    if (name == "edit") return parseEdit(in);
    if (name == "drain" || name == "undrain") return drain(in, name == "drain");
    if (name == "update") return update(in);
    if (name == "help") return HelpArgs{};
    refuse(kj::str("unknown command '", name, "' (see taskctl --help)"));
  }();
  return Invocation{kj::mv(in.global), kj::mv(command)};
}

}  // namespace

kj::OneOf<Invocation, UsageError> parseArgs(kj::ArrayPtr<const kj::StringPtr> args) {
  if (args.size() == 0) return UsageError{kj::str("missing command"), true};
  try {
    ArgReader in(args);
    return parse(in);
  } catch (Refusal& refusal) {
    return UsageError{kj::mv(refusal.message), refusal.showUsage};
  } catch (HelpRequested&) {
    return Invocation{GlobalOptions{}, HelpArgs{}};
  }
}

kj::String resolveSocketPath(const GlobalOptions& global, kj::Maybe<kj::StringPtr> envSocket) {
  KJ_IF_MAYBE (path, global.socket) {
    return kj::heapString(*path);
  }
  KJ_IF_MAYBE (path, envSocket) {
    if (path->size() > 0) return kj::heapString(*path);
  }
  return kj::heapString(DEFAULT_SOCKET);
}

kj::Maybe<uint64_t> parseUnsigned(kj::StringPtr text) {
  if (text.size() == 0) return nullptr;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return nullptr;
    uint64_t digit = c - '0';
    if (value > (UINT64_MAX - digit) / 10) return nullptr;
    value = value * 10 + digit;
  }
  return value;
}

kj::Maybe<int64_t> parseSigned(kj::StringPtr text) {
  bool negative = text.startsWith("-");
  auto digits = (negative || text.startsWith("+")) ? text.slice(1) : text;
  KJ_IF_MAYBE (magnitude, parseUnsigned(digits)) {
    if (negative) {
      if (*magnitude > uint64_t(INT64_MAX) + 1) return nullptr;
      return static_cast<int64_t>(0 - *magnitude);
    }
    if (*magnitude > uint64_t(INT64_MAX)) return nullptr;
    return static_cast<int64_t>(*magnitude);
  }
  return nullptr;
}

}  // namespace taskctl
