// What the command parsers share: a cursor over the arguments, options as written, the global
// options and the refusal that becomes a usage error. Internal to the parser (args.c++ and the
// *-args.c++ files); parsing is pure, as args.h says.
#pragma once

#include <kj/function.h>
#include <kj/one-of.h>
#include <kj/string.h>

#include "args.h"

namespace taskctl {
namespace cmdline {

// Thrown inside the parser only; parseArgs() turns it into a UsageError. Unwinding out of the
// nested option loops is simpler than threading an error value through each of them.
struct Refusal {
  kj::String message;
  bool showUsage = false;
};

// `--help` anywhere before the command's own arguments wins over everything after it.
struct HelpRequested {};

[[noreturn]] void refuse(kj::String message);

// Refuses with `refusal` if there is one.
void refuseIf(kj::Maybe<kj::String>&& refusal);

// A value read by one of submit-options.h's parsers, or its refusal.
template <typename T>
T taken(kj::OneOf<T, kj::String>&& parsed) {
  if (parsed.template is<kj::String>()) refuse(kj::mv(parsed.template get<kj::String>()));
  return kj::mv(parsed.template get<T>());
}

// An option as written: "--name", "--name=value" or "-x".
struct Option {
  kj::String name;  // with its dashes
  kj::Maybe<kj::StringPtr> inlineValue;
};

kj::Maybe<Option> asOption(kj::StringPtr arg);

bool isDigit(char c);
bool isUtf8(kj::StringPtr text);

class ArgReader {
 public:
  explicit ArgReader(kj::ArrayPtr<const kj::StringPtr> args) : args(args) {}

  GlobalOptions global;

  kj::Maybe<kj::StringPtr> next();
  bool atEnd() const { return pos == args.size(); }
  // Gives the argument next() returned last back, to be read again.
  void back() { --pos; }

  // The value of an option that takes one: inline (--queue=Q) or the next argument, which is
  // taken as it is even when it starts with a dash (--priority -5).
  kj::StringPtr valueOf(const Option& option);
  void flag(const Option& option);

  // Handles an option every command accepts; false if `option` is not one of them.
  bool takeGlobal(const Option& option);
  [[noreturn]] void unknownOption(const Option& option);

  // Walks a command's arguments: global options anywhere, `onOption` for the command's own
  // (true: taken), every other argument (and everything after "--") to `onPositional`.
  void walk(kj::FunctionParam<bool(const Option&)> onOption,
            kj::FunctionParam<void(kj::StringPtr)> onPositional);

  // The subcommand of `queue` and `schedule`: the first word that is not an option (global
  // options may come first). Refuses with `missing` when there is none.
  kj::StringPtr subcommand(kj::StringPtr missing);

  // The value of a limit option, read by `parse` (the units the daemon's config takes too). Zero
  // is refused: leaving the option out is how to ask for the queue's default.
  uint64_t limit(const Option& option, kj::Maybe<uint64_t> (*parse)(kj::StringPtr),
                 kj::StringPtr like);

  // A --label value: KEY=VALUE with a non-empty key; the value may be empty or hold '='.
  LabelArg label(const Option& option);

  uint64_t id(kj::StringPtr arg);

 private:
  kj::ArrayPtr<const kj::StringPtr> args;
  size_t pos = 0;
};

// The parsers of the commands with options of their own, each reading what follows the
// command's name.

// submit's options and command, and those `extra` takes (true: taken): schedule add's.
SubmitArgs parseSubmit(ArgReader& in, kj::FunctionParam<bool(const Option&)> extra);
// rerun's: `ID [submit options] [-- CMD...]`, the command optional.
RerunArgs parseRerun(ArgReader& in);
// edit's: the same, without --wait, --hold and --request-id (they are not part of a task to edit).
EditArgs parseEdit(ArgReader& in);
CommandArgs parseQueue(ArgReader& in);
CommandArgs parseSchedule(ArgReader& in);

}  // namespace cmdline
}  // namespace taskctl
