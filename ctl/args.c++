#include "args.h"

#include <kj/debug.h>

#include "common/units.h"
#include "format.h"
#include "submit-options.h"
#include "time-spec.h"

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
    if (name == "watch") return finish(watch());
    if (name == "progress") return finish(progress());
    if (name == "queue") return finish(queue());
    if (name == "schedule") return finish(schedule());
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

  // The value of a limit option, read by `parse` (the units the daemon's config takes too). Zero
  // is refused: leaving the option out is how to ask for the queue's default.
  uint64_t limit(const Option& option, kj::Maybe<uint64_t> (*parse)(kj::StringPtr),
                 kj::StringPtr like) {
    auto text = valueOf(option);
    KJ_IF_MAYBE(value, parse(text)) {
      if (*value > 0) return *value;
    }
    refuse(kj::str(option.name, " must be ", like, ", not '", text, "'"));
  }

  // A --label value: KEY=VALUE with a non-empty key; the value may be empty or hold '='.
  LabelArg label(const Option& option) {
    auto text = valueOf(option);
    KJ_IF_MAYBE(eq, text.findFirst('=')) {
      if (*eq > 0) {
        return LabelArg{kj::heapString(text.begin(), *eq), kj::heapString(text.slice(*eq + 1))};
      }
    }
    refuse(kj::str(option.name, " needs KEY=VALUE, not '", text, "'"));
  }

  // A value read by one of submit-options.h's parsers, or its refusal.
  template <typename T>
  T taken(kj::OneOf<T, kj::String>&& parsed) {
    if (parsed.template is<kj::String>()) refuse(kj::mv(parsed.template get<kj::String>()));
    return kj::mv(parsed.template get<T>());
  }

  void refuseIf(kj::Maybe<kj::String>&& refusal) {
    KJ_IF_MAYBE(message, refusal) {
      refuse(kj::mv(*message));
    }
  }

  uint64_t id(kj::StringPtr arg) {
    KJ_IF_MAYBE(value, parseUnsigned(arg)) {
      return *value;
    }
    refuse(kj::str("not a task id: '", arg, "'"));
  }

  SubmitArgs submit() {
    return submit([](const Option&) { return false; });
  }

  // submit's options, and those `extra` takes (true: taken).
  template <typename Extra>
  SubmitArgs submit(Extra&& extra) {
    SubmitArgs result;
    // Options whose meaning depends on others, checked once all are read.
    bool delayGiven = false, atGiven = false, onConflictGiven = false, retriesGiven = false;
    uint32_t retries = 0;
    kj::Maybe<RetryConditions> retryOn;
    kj::Maybe<Backoff> backoff;
    // Options end at "--" or, as with env(1) and nohup(1), at the first word of the command:
    // whatever follows belongs to the command, even words that look like our options.
    while (pos < args.size()) {
      kj::StringPtr arg = args[pos++];
      if (arg == "--") break;
      KJ_IF_MAYBE(option, asOption(arg)) {
        if (takeGlobal(*option) || extra(*option)) continue;
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
          result.labels.add(label(*option));
          auto& added = result.labels.back();
          if (result.labels.size() > MAX_LABELS) {
            refuse(kj::str("at most ", MAX_LABELS, " --label options"));
          }
          if (added.key.size() > MAX_LABEL_KEY_BYTES) {
            refuse(kj::str("--label: a key is at most ", MAX_LABEL_KEY_BYTES, " bytes"));
          }
          if (added.value.size() > MAX_LABEL_VALUE_BYTES) {
            refuse(kj::str("--label ", added.key, ": a value is at most ", MAX_LABEL_VALUE_BYTES,
                           " bytes"));
          }
        } else if (option->name == "--wait") {
          flag(*option);
          result.wait = true;
        } else if (option->name == "--timeout") {
          result.timeoutUsec =
              limit(*option, parseDurationUsec, "a duration like 90s, 10m or 1h30m");
        } else if (option->name == "--kill-grace") {
          result.killGraceUsec = limit(*option, parseDurationUsec, "a duration like 10s or 500ms");
        } else if (option->name == "--heartbeat") {
          result.heartbeatUsec = limit(*option, parseDurationUsec, "a duration like 30s or 5m");
        } else if (option->name == "--cpu") {
          result.cpuQuotaPerSecUsec = limit(*option, parseCpuQuotaPerSecUsec,
                                            "a share of one CPU like 50% (200% for two CPUs)");
        } else if (option->name == "--memory") {
          result.memoryMaxBytes = limit(*option, parseBytes, "a size like 512M");
        } else if (option->name == "--tasks-max") {
          result.tasksMax = limit(*option, parseUnsigned, "a number of processes like 100");
        } else if (option->name == "--after") {
          result.after.add(taken(parseDependency(valueOf(*option))));
        } else if (option->name == "--in") {
          auto text = valueOf(*option);
          KJ_IF_MAYBE(usec, parseDurationUsec(text)) {
            result.delayUsec = *usec;
          } else {
            refuse(kj::str("--in must be a duration like 30s, 10m or 2h, not '", text, "'"));
          }
          delayGiven = true;
        } else if (option->name == "--at") {
          auto parsed = parseTimeSpec(valueOf(*option));
          if (parsed.is<kj::String>()) refuse(kj::str("--at ", parsed.get<kj::String>()));
          result.notBefore = parsed.get<int64_t>();
          atGiven = true;
        } else if (option->name == "--retries") {
          auto text = valueOf(*option);
          auto value = parseUnsigned(text).orDefault(UINT64_MAX);
          if (value > MAX_RETRIES) {
            refuse(kj::str("--retries must be a number from 0 to ", MAX_RETRIES, ", not '", text,
                           "'"));
          }
          retries = static_cast<uint32_t>(value);
          retriesGiven = true;
        } else if (option->name == "--retry-on") {
          if (retryOn == nullptr) retryOn = RetryConditions();
          refuseIf(addRetryConditions(KJ_ASSERT_NONNULL(retryOn), valueOf(*option)));
        } else if (option->name == "--backoff") {
          backoff = taken(parseBackoff(valueOf(*option)));
        } else if (option->name == "--key") {
          auto text = valueOf(*option);
          refuseIf(checkIdentifier("--key", text));
          result.key = kj::heapString(text);
        } else if (option->name == "--on-conflict") {
          auto text = valueOf(*option);
          KJ_IF_MAYBE(conflict, parseKeyConflict(text)) {
            result.onConflict = *conflict;
          } else {
            refuse(kj::str("--on-conflict must be replace, skip or queue, not '", text, "'"));
          }
          onConflictGiven = true;
        } else if (option->name == "--request-id") {
          auto text = valueOf(*option);
          refuseIf(checkIdentifier("--request-id", text));
          result.requestId = kj::heapString(text);
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

    if (delayGiven && atGiven) refuse(kj::str("--in and --at cannot be used together"));
    if (retriesGiven) {
      result.retry = retryPolicy(retries, retryOn, backoff);
    } else {
      if (retryOn != nullptr) refuse(kj::str("--retry-on needs --retries N"));
      if (backoff != nullptr) refuse(kj::str("--backoff needs --retries N"));
    }
    if (onConflictGiven && result.key == nullptr) refuse(kj::str("--on-conflict needs --key K"));
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
          } else if (option.name == "--label") {
            result.labels.add(label(option));
          } else if (option.name == "--all-users") {
            flag(option);
            result.allUsers = true;
          } else if (option.name == "--limit") {
            auto text = valueOf(option);
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
    return result;
  }

  WatchArgs watch() {
    WatchArgs result;
    kj::Vector<uint64_t> found;
    walk(
        [&](const Option& option) {
          if (option.name == "--from") {
            auto text = valueOf(option);
            // 0 would read as "from now", which --from never means: leave it out for that.
            auto value = parseUnsigned(text).orDefault(0);
            if (value == 0) {
              refuse(kj::str("--from needs a sequence number from 1 (status and list --json show "
                             "last_seq), not '", text, "'"));
            }
            result.from = value;
          } else if (option.name == "--progress") {
            flag(option);
            result.progress = true;
          } else {
            return false;
          }
          return true;
        },
        [&](kj::StringPtr arg) { found.add(id(arg)); });
    result.ids = found.releaseAsArray();
    return result;
  }

  CommandArgs queue() {
    // The subcommand is the first word that is not an option; global options may come first.
    kj::StringPtr subcommand;
    for (;;) {
      KJ_IF_MAYBE(arg, next()) {
        KJ_IF_MAYBE(option, asOption(*arg)) {
          if (!takeGlobal(*option)) unknownOption(*option);
          continue;
        }
        subcommand = *arg;
        break;
      }
      refuse(kj::str("queue needs a subcommand: list, set, pause or resume"));
    }

    if (subcommand == "list") {
      walk([](const Option&) { return false; },
           [&](kj::StringPtr arg) -> void {
             refuse(kj::str("queue list takes no arguments, got '", arg, "'"));
           });
      return QueueListArgs{};
    }
    if (subcommand == "set") {
      QueueSetArgs result;
      bool concurrencyGiven = false;
      kj::Vector<kj::StringPtr> names;
      walk(
          [&](const Option& option) {
            if (option.name != "--concurrency") return false;
            auto text = valueOf(option);
            if (text == "default") {
              result.useDefault = true;
              result.concurrency = 0;
            } else {
              auto value = parseUnsigned(text).orDefault(0);
              if (value < 1 || value > MAX_QUEUE_CONCURRENCY) {
                refuse(kj::str("--concurrency must be a number from 1 to ", MAX_QUEUE_CONCURRENCY,
                               ", or default, not '", text, "'"));
              }
              result.useDefault = false;
              result.concurrency = static_cast<uint32_t>(value);
            }
            concurrencyGiven = true;
            return true;
          },
          [&](kj::StringPtr arg) { names.add(arg); });
      result.name = queueName("set", names, " --concurrency N");
      if (!concurrencyGiven) {
        refuse(kj::str("queue set needs --concurrency N (1 to ", MAX_QUEUE_CONCURRENCY,
                       ") or --concurrency default"));
      }
      return kj::mv(result);
    }
    if (subcommand == "pause" || subcommand == "resume") {
      kj::Vector<kj::StringPtr> names;
      walk([](const Option&) { return false; }, [&](kj::StringPtr arg) { names.add(arg); });
      return QueuePauseArgs{queueName(subcommand, names, ""), subcommand == "pause"};
    }
    refuse(kj::str("unknown queue subcommand '", subcommand, "' (list, set, pause or resume)"));
  }

  CommandArgs schedule() {
    kj::StringPtr subcommand;
    for (;;) {
      KJ_IF_MAYBE(arg, next()) {
        KJ_IF_MAYBE(option, asOption(*arg)) {
          if (!takeGlobal(*option)) unknownOption(*option);
          continue;
        }
        subcommand = *arg;
        break;
      }
      refuse(kj::str("schedule needs a subcommand: add, list or remove"));
    }
    if (subcommand == "list") {
      walk([](const Option&) { return false; },
           [&](kj::StringPtr arg) -> void {
             refuse(kj::str("schedule list takes no arguments, got '", arg, "'"));
           });
      return ScheduleListArgs{};
    }
    if (subcommand == "remove") {
      ScheduleRemoveArgs result;
      kj::Vector<kj::StringPtr> names;
      walk(
          [&](const Option& option) {
            if (option.name != "--user") return false;
            auto text = valueOf(option);
            if (text.size() == 0) refuse(kj::str("--user needs a user name or a numeric uid"));
            result.user = kj::heapString(text);
            return true;
          },
          [&](kj::StringPtr arg) { names.add(arg); });
      if (names.size() != 1) {
        refuse(kj::str("schedule remove needs exactly one name: taskctl schedule remove NAME "
                       "[--user USER]"));
      }
      result.name = scheduleName(names[0]);
      return kj::mv(result);
    }
    if (subcommand != "add") {
      refuse(kj::str("unknown schedule subcommand '", subcommand, "' (add, list or remove)"));
    }
    ScheduleAddArgs result;
    // NAME first (global options may come before it), then the options.
    for (;;) {
      KJ_IF_MAYBE(arg, next()) {
        KJ_IF_MAYBE(option, asOption(*arg)) {
          if (!takeGlobal(*option)) {
            refuse(kj::str("schedule add needs the NAME first: taskctl schedule add NAME "
                           "--on-calendar SPEC [OPTIONS] -- CMD [ARGS...]"));
          }
          continue;
        }
        result.name = scheduleName(*arg);
        break;
      }
      refuse(kj::str("schedule add needs a name: taskctl schedule add NAME --on-calendar SPEC "
                     "[OPTIONS] -- CMD [ARGS...]"));
    }
    bool calendarGiven = false;
    // The submit options, with --wait and the ones about one task's start refused: a schedule
    // submits anew each time.
    result.submit = submit([&](const Option& option) {
      if (option.name == "--on-calendar") {
        auto text = valueOf(option);
        if (text.size() == 0) refuse(kj::str("--on-calendar needs a calendar spec like daily"));
        result.onCalendar = kj::heapString(text);
        calendarGiven = true;
      } else if (option.name == "--persistent") {
        flag(option);
        result.persistent = true;
      } else if (option.name == "--accuracy") {
        result.accuracyUsec = limit(option, parseDurationUsec, "a duration like 1s or 5m");
      } else if (option.name == "--wait" || option.name == "--in" || option.name == "--at" ||
                 option.name == "--after" || option.name == "--request-id") {
        refuse(kj::str(option.name, " does not apply to a schedule (each firing submits a new "
                       "task)"));
      } else {
        return false;
      }
      return true;
    });
    if (!calendarGiven) {
      refuse(kj::str("schedule add needs --on-calendar SPEC (systemd.time(7): daily, "
                     "'Mon *-*-* 03:00', '*:*:0/10')"));
    }
    for (auto& label : result.submit.labels) {
      if (label.key == "schedule") {
        refuse(kj::str("the label schedule=NAME is set by taskctl; choose another key"));
      }
    }
    return kj::mv(result);
  }

  kj::String scheduleName(kj::StringPtr name) {
    bool ok = name.size() >= 1 && name.size() <= 64;
    for (char c : name) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '_' ||
                  c == '-');
    }
    if (!ok) refuse(kj::str("a schedule name is 1 to 64 of a-z A-Z 0-9 _ -, not '", name, "'"));
    return kj::heapString(name);
  }

  // The one queue name a queue subcommand takes.
  kj::String queueName(kj::StringPtr subcommand, kj::ArrayPtr<const kj::StringPtr> names,
                       kj::StringPtr rest) {
    if (names.size() != 1) {
      refuse(kj::str("queue ", subcommand, " needs exactly one queue name: taskctl queue ",
                     subcommand, " QUEUE", rest));
    }
    if (names[0].size() == 0) refuse(kj::str("a queue name must not be empty"));
    return kj::heapString(names[0]);
  }

  ProgressArgs progress() {
    // Options first; then FRACTION, which may look like one ("-0.5" deserves the range message,
    // not "unknown option"); then TEXT taken as it is, whatever it starts with.
    kj::Maybe<kj::StringPtr> fractionText;
    while (pos < args.size()) {
      kj::StringPtr arg = args[pos++];
      if (arg == "--") break;
      bool numeric = arg.size() > 1 && arg[0] == '-' && (isDigit(arg[1]) || arg[1] == '.');
      KJ_IF_MAYBE(option, asOption(arg)) {
        if (!numeric) {
          if (!takeGlobal(*option)) unknownOption(*option);
          continue;
        }
      }
      fractionText = arg;
      break;
    }
    if (fractionText == nullptr) fractionText = next();
    KJ_IF_MAYBE(text, fractionText) {
      ProgressArgs result;
      KJ_IF_MAYBE(fraction, parseProgressFraction(*text)) {
        result.fraction = *fraction;
      } else {
        refuse(
            kj::str("progress must be a fraction from 0 to 1 like 0.4, or a percentage like "
                    "40%, not '",
                    *text, "'"));
      }
      KJ_IF_MAYBE(status, next()) {
        if (status->findFirst('\n') != nullptr) refuse(kj::str("progress TEXT must be one line"));
        if (!isUtf8(*status)) refuse(kj::str("progress TEXT must be UTF-8 text"));
        result.text = kj::heapString(*status);
      }
      if (pos < args.size()) {
        refuse(kj::str("progress takes FRACTION and one TEXT; quote the text if it has spaces"));
      }
      return result;
    }
    refuse(kj::str("progress needs a fraction: taskctl progress FRACTION [TEXT]"));
  }

  static bool isDigit(char c) { return c >= '0' && c <= '9'; }

  static bool isUtf8(kj::StringPtr text) {
    auto bytes = text.asBytes();
    for (size_t i = 0; i < bytes.size();) {
      size_t length = utf8SequenceLength(bytes.slice(i, bytes.size()));
      if (length == 0) return false;
      i += length;
    }
    return true;
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
  submit [OPTIONS] -- CMD [ARGS...]
                        queue a command and print its id
      --queue Q           the queue (default: the daemon's default queue)
      --priority N        -100..100, higher runs first among your tasks
                          (default 0; above 0: root and admins only, unless
                          the queue's max_user_priority allows it)
      --label K=V         a label (repeatable)
      --wait              then block and exit like the task (Ctrl-C stops the
                          waiting, not the task)
      --timeout DUR       stop it after DUR (SIGTERM, the grace, SIGKILL): 90s,
                          10m, 1h30m
      --kill-grace DUR    time between SIGTERM and SIGKILL (default 10s)
      --heartbeat DUR     fail it if silent for DUR (it gets WATCHDOG_USEC and
                          sends WATCHDOG=1 to NOTIFY_SOCKET)
      --cpu N%            CPU quota: 50% of one CPU, 200% for two
      --memory SIZE       memory limit: 512M, 2G (an excess is an OOM kill)
      --tasks-max N       at most N processes and threads
                        Limits left out come from the queue's defaults.
      --after ID[:COND]   start once task ID has ended: ok (it succeeded; the
                          default), any, or failed (repeatable: all must hold)
      --in DUR            start no sooner than DUR from now: 30s, 2h
      --at TIME           start no sooner than TIME: 2026-11-25T14:30 or
                          '2026-11-25 14:30:00' (local time), or with Z or an
                          offset: 2026-11-25T14:30+01:00
      --retries N         retry up to N times (0..1000); alone: after a non-zero
                          exit, a timeout or a missed heartbeat
      --retry-on LIST     retry only on these (repeatable): exit:any,
                          exit:CODES (exit:1,2), signal, oom, timeout,
                          heartbeat, lost
      --backoff BASE[,MAX]
                          the wait before a retry: from BASE, growing up to
                          MAX, with jitter (default 1s,10m)
      --key K             at most one active task per key
      --on-conflict P     if another task holds K: queue (run after it; the
                          default), skip (print its id, add nothing), replace
                          (cancel it)
      --request-id R      submitting again with R within 24 h prints the first
                          task's id and adds nothing
  status [--env] ID     one task: limits, attempts, progress, output tail
                        (--env: with its environment)
  list [--state S] [--queue Q] [--label K=V]... [--all-users] [--limit N]
                        your tasks; --label: only those with every label
                        given; --all-users: everyone's (for root and admins);
                        --limit: only the newest N that match
  wait ID...            block until the tasks end; exit like the first that
                        did not succeed
  cancel ID...          cancel tasks: queued ones at once, running ones are
                        stopped (SIGTERM, a grace period, SIGKILL)
  logs [-f] [--attempt N] ID
                        an attempt's output (default: the latest attempt);
                        -f, --follow: keep printing until the attempt ends
  watch [--from SEQ] [--progress] [ID...]
                        print each state change of your tasks (or of the ids
                        given) as it happens, until Ctrl-C; --from: first
                        the stored changes from sequence number SEQ (status
                        and list --json show last_seq), with none missed
                        and none twice; --progress: progress reports too
  progress FRACTION [TEXT]
                        inside a task: report progress (0.4 or 40%) and a
                        one-line status text to taskctld (via NOTIFY_SOCKET)
  queue list            the queues: concurrency, running, queued, waiting,
                        paused
  queue set Q --concurrency N|default
                        run up to N (1..10000) of Q's tasks at once, or go
                        back to the configured value (root and admins)
  queue pause Q         start nothing new from Q; running tasks go on
                        (root and admins)
  queue resume Q        start Q's tasks again (root and admins)
  schedule add NAME --on-calendar SPEC [--persistent] [--accuracy DUR]
               [SUBMIT OPTIONS] -- CMD [ARGS...]
                        a systemd timer that submits CMD as you whenever SPEC
                        (systemd.time(7): daily, 'Mon 03:00', '*:*:0/10')
                        elapses, labelled schedule=NAME; --persistent: catch
                        up on runs missed while the machine was off;
                        --accuracy: how late it may fire (default 1min).
                        NAME: 1-64 of a-z A-Z 0-9 _ -. Needs taskctld with
                        systemd (the scope runner)
  schedule list         your schedules (everyone's for root and admins): the
                        spec, next and last run, the tasks each submitted
  schedule remove NAME [--user USER]
                        stop and delete your schedule NAME; root and admins:
                        anyone's, and --user (a name in /etc/passwd or a uid)
                        says whose when several users have one of that name

Options:
  --socket PATH         taskctld's socket (default: $TASKCTL_SOCKET, else
                        /run/taskctl/taskctl.sock)
  --json                JSON output for status, list, wait, submit --wait,
                        queue, schedule list and watch
  -h, --help            show this text
  --version             show the version

Exit status: 0 done; wait and submit --wait exit like the task (its exit
code, 128+N for signal N, 124 timeout or heartbeat, 130 cancelled or
replaced through its key, 125-127 did not start, 125 also when a dependency
failed), and submit --wait and watch with 130 on Ctrl-C; 64 usage error, 65
rejected input (such as an unknown id, or a request over 8 MiB), 69 taskctld
unreachable or not answering, 75 taskctld overloaded (retry later), a per-user
quota reached, too many of your connections open, or watch fell behind (it
says which --from resumes it), 77 permission denied (such as queue set, pause
or resume by someone who is not root or an admin, a priority above the queue's
max_user_priority, or another user's private taskctld).
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

kj::Maybe<double> parseProgressFraction(kj::StringPtr text) {
  bool percent = text.endsWith("%");
  auto number = percent ? text.slice(0, text.size() - 1) : text.asArray();
  // Digits with at most one point, as an integer over a power of ten, so that "0.3" is the double
  // nearest 0.3. Decimals past the 15th add nothing a person meant and are dropped.
  uint64_t mantissa = 0;
  double divisor = 1;
  int decimals = 0;
  bool point = false;
  bool digits = false;
  for (char c : number) {
    if (c >= '0' && c <= '9') {
      digits = true;
      if (!point) {
        mantissa = mantissa * 10 + (c - '0');
        if (mantissa > 1000) return nullptr;  // far out of range, and no overflow
      } else if (decimals < 15) {
        mantissa = mantissa * 10 + (c - '0');
        divisor *= 10;
        decimals++;
      }
    } else if (c == '.' && !point) {
      point = true;
    } else {
      return nullptr;
    }
  }
  double value = static_cast<double>(mantissa) / divisor;
  if (!digits) return nullptr;
  if (percent) value /= 100;
  if (value > 1) return nullptr;
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
