#include "args.h"

#include <kj/debug.h>

namespace taskctl {

namespace {

// Thrown inside the parser only; parseArgs() turns it into a UsageError. Unwinding out of the
// nested option loops is simpler than threading an error value through each of them.
struct Refusal {
  kj::String message;
  bool showUsage = false;
};

// `--help` anywhere before the command's own arguments wins over everything after it.
struct HelpRequested {};

[[noreturn]] void refuse(kj::String message) { throw Refusal{kj::mv(message)}; }

// An option as written: "--name", "--name=value" or "-x".
struct Option {
  kj::String name;  // with its dashes
  kj::Maybe<kj::StringPtr> inlineValue;
};

kj::Maybe<Option> asOption(kj::StringPtr arg) {
  // "-" is an ordinary argument (stdin, by convention) and "--" ends the options.
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return nullptr;
  KJ_IF_MAYBE(eq, arg.findFirst('=')) {
    if (arg.startsWith("--")) {
      return Option{kj::heapString(arg.slice(0, *eq)), arg.slice(*eq + 1)};
    }
  }
  return Option{kj::heapString(arg), nullptr};
}

class Parser {
 public:
  explicit Parser(kj::ArrayPtr<const kj::StringPtr> args) : args(args) {}

  Invocation run() {
    // Global options come first; the first argument that is not an option names the command.
    kj::StringPtr name;
    for (;;) {
      KJ_IF_MAYBE(arg, next()) {
        KJ_IF_MAYBE(option, asOption(*arg)) {
          if (option->name == "--version") {
            return Invocation{kj::mv(global), VersionArgs{}};
          }
          if (!takeGlobal(*option)) unknownOption(*option);
          continue;
        }
        name = *arg;
        break;
      } else {
        throw Refusal{kj::str("missing command"), true};
      }
    }

    if (name == "submit") return finish(submit());
    if (name == "status") return finish(status());
    if (name == "list") return finish(list());
    if (name == "wait") return finish(WaitArgs{ids("wait")});
    if (name == "cancel") return finish(CancelArgs{ids("cancel")});
    if (name == "logs") return finish(logs());
    if (name == "help") return finish(HelpArgs{});
    refuse(kj::str("unknown command '", name, "' (see taskctl --help)"));
  }

 private:
  kj::ArrayPtr<const kj::StringPtr> args;
  size_t pos = 0;
  GlobalOptions global;

  kj::Maybe<kj::StringPtr> next() {
    if (pos == args.size()) return nullptr;
    return args[pos++];
  }

  Invocation finish(CommandArgs&& command) { return Invocation{kj::mv(global), kj::mv(command)}; }

  // The value of an option that takes one: inline (--queue=Q) or the next argument, which is
  // taken as it is even when it starts with a dash (--priority -5).
  kj::StringPtr valueOf(const Option& option) {
    KJ_IF_MAYBE(value, option.inlineValue) {
      return *value;
    }
    KJ_IF_MAYBE(value, next()) {
      return *value;
    }
    refuse(kj::str("option ", option.name, " needs a value"));
  }

  void flag(const Option& option) {
    if (option.inlineValue != nullptr) refuse(kj::str("option ", option.name, " takes no value"));
  }

  // Handles an option every command accepts; false if `option` is not one of them.
  bool takeGlobal(const Option& option) {
    if (option.name == "--help" || option.name == "-h") {
      throw HelpRequested{};
    } else if (option.name == "--json") {
      flag(option);
      global.json = true;
    } else if (option.name == "--socket") {
      auto path = valueOf(option);
      if (path.size() == 0) refuse(kj::str("option --socket needs a path"));
      global.socket = kj::heapString(path);
    } else {
      return false;
    }
    return true;
  }

  [[noreturn]] void unknownOption(const Option& option) {
    refuse(kj::str("unknown option ", option.name, " (see taskctl --help)"));
  }

  // Walks a command's arguments: global options anywhere, `onOption` for the command's own,
  // every other argument (and everything after "--") to `onPositional`.
  template <typename OnOption, typename OnPositional>
  void walk(OnOption&& onOption, OnPositional&& onPositional) {
    bool optionsEnded = false;
    while (pos < args.size()) {
      kj::StringPtr arg = args[pos++];
      if (!optionsEnded) {
        if (arg == "--") {
          optionsEnded = true;
          continue;
        }
        KJ_IF_MAYBE(option, asOption(arg)) {
          if (!takeGlobal(*option) && !onOption(*option)) unknownOption(*option);
          continue;
        }
      }
      onPositional(arg);
    }
  }

  uint64_t id(kj::StringPtr arg) {
    KJ_IF_MAYBE(value, parseUnsigned(arg)) {
      return *value;
    }
    refuse(kj::str("not a task id: '", arg, "'"));
  }

  SubmitArgs submit() {
    SubmitArgs result;
    // Options end at "--" or, as with env(1) and nohup(1), at the first word of the command:
    // whatever follows belongs to the command, even words that look like our options.
    while (pos < args.size()) {
      kj::StringPtr arg = args[pos++];
      if (arg == "--") break;
      KJ_IF_MAYBE(option, asOption(arg)) {
        if (takeGlobal(*option)) continue;
        if (option->name == "--queue") {
          result.queue = kj::heapString(valueOf(*option));
        } else if (option->name == "--priority") {
          auto text = valueOf(*option);
          auto value = parseSigned(text).orDefault(1000);
          if (value < -100 || value > 100) {
            refuse(kj::str("--priority must be an integer from -100 to 100, not '", text, "'"));
          }
          result.priority = static_cast<int32_t>(value);
        } else if (option->name == "--label") {
          auto text = valueOf(*option);
          KJ_IF_MAYBE(eq, text.findFirst('=')) {
            if (*eq > 0) {
              result.labels.add(
                  LabelArg{kj::heapString(text.begin(), *eq), kj::heapString(text.slice(*eq + 1))});
              continue;
            }
          }
          refuse(kj::str("--label needs KEY=VALUE, not '", text, "'"));
        } else if (option->name == "--wait") {
          flag(*option);
          result.wait = true;
        } else {
          unknownOption(*option);
        }
        continue;
      }
      --pos;  // the command's first word
      break;
    }
    auto command = kj::heapArrayBuilder<kj::String>(args.size() - pos);
    while (pos < args.size()) command.add(kj::heapString(args[pos++]));
    if (command.size() == 0) {
      refuse(kj::str("submit needs a command: taskctl submit [OPTIONS] -- CMD [ARGS...]"));
    }
    result.command = command.finish();
    return result;
  }

  StatusArgs status() {
    StatusArgs result;
    kj::Vector<uint64_t> found;
    walk(
        [&](const Option& option) {
          if (option.name != "--env") return false;
          flag(option);
          result.withEnv = true;
          return true;
        },
        [&](kj::StringPtr arg) { found.add(id(arg)); });
    if (found.size() != 1) refuse(kj::str("status needs exactly one task id"));
    result.id = found[0];
    return result;
  }

  ListArgs list() {
    ListArgs result;
    walk(
        [&](const Option& option) {
          if (option.name == "--state") {
            result.state = kj::heapString(valueOf(option));
          } else if (option.name == "--queue") {
            result.queue = kj::heapString(valueOf(option));
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

  kj::Array<uint64_t> ids(kj::StringPtr command) {
    kj::Vector<uint64_t> found;
    walk([](const Option&) { return false; }, [&](kj::StringPtr arg) { found.add(id(arg)); });
    if (found.size() == 0) refuse(kj::str(command, " needs at least one task id"));
    return found.releaseAsArray();
  }

  LogsArgs logs() {
    LogsArgs result;
    kj::Vector<uint64_t> found;
    walk(
        [&](const Option& option) {
          if (option.name == "--attempt") {
            auto text = valueOf(option);
            auto value = parseUnsigned(text).orDefault(uint64_t(UINT32_MAX) + 1);
            if (value > UINT32_MAX) {
              refuse(kj::str("--attempt needs an attempt number, not '", text, "'"));
            }
            result.attempt = static_cast<uint32_t>(value);
          } else if (option.name == "-f" || option.name == "--follow") {
            flag(option);
            result.follow = true;
          } else {
            return false;
          }
          return true;
        },
        [&](kj::StringPtr arg) { found.add(id(arg)); });
    if (found.size() != 1) refuse(kj::str("logs needs exactly one task id"));
    result.id = found[0];
    // The daemon has no way yet to say "more is coming"; following by polling is not an option
    // (DESIGN 1), so -f waits for that instead of pretending.
    if (result.follow) refuse(kj::str("logs -f is not available yet"));
    return result;
  }
};

}  // namespace

kj::OneOf<Invocation, UsageError> parseArgs(kj::ArrayPtr<const kj::StringPtr> args) {
  if (args.size() == 0) return UsageError{kj::str("missing command"), true};
  try {
    return Parser(args).run();
  } catch (Refusal& refusal) {
    return UsageError{kj::mv(refusal.message), refusal.showUsage};
  } catch (HelpRequested&) {
    return Invocation{GlobalOptions{}, HelpArgs{}};
  }
}

kj::StringPtr usageText() {
  return R"(usage: taskctl [--socket PATH] [--json] COMMAND [ARGS...]

Commands:
  submit [--queue Q] [--priority N] [--label K=V]... [--wait] -- CMD [ARGS...]
                        queue a command and print its id; --wait then blocks
                        and exits like the task
  status [--env] ID     one task with its attempts (--env: with its environment)
  list [--state S] [--queue Q]
                        your tasks (every task for root and admins)
  wait ID...            block until the tasks end; exit like the first that
                        did not succeed
  cancel ID...          cancel tasks: queued ones at once, running ones are
                        stopped (SIGTERM, a grace period, SIGKILL)
  logs [--attempt N] ID an attempt's output (default: the latest attempt)

Options:
  --socket PATH         taskctld's socket (default: $TASKCTL_SOCKET, else
                        /run/taskctl/taskctl.sock)
  --json                JSON output for status, list, wait and submit --wait
  -h, --help            show this text
  --version             show the version

Exit status: 0 done; wait and submit --wait exit like the task (its exit
code, 128+N for signal N, 124 timeout, 130 cancelled, 125-127 did not start);
64 usage error, 65 rejected input (such as an unknown id), 69 taskctld
unreachable or not answering, 75 taskctld overloaded (retry later),
77 permission denied.
)"_kj;
}

kj::String resolveSocketPath(const GlobalOptions& global, kj::Maybe<kj::StringPtr> envSocket) {
  KJ_IF_MAYBE(path, global.socket) {
    return kj::heapString(*path);
  }
  KJ_IF_MAYBE(path, envSocket) {
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
  KJ_IF_MAYBE(magnitude, parseUnsigned(digits)) {
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
