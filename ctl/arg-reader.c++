#include "arg-reader.h"

#include "format.h"

namespace taskctl {
namespace cmdline {

void refuse(kj::String message) { throw Refusal{kj::mv(message)}; }

void refuseIf(kj::Maybe<kj::String>&& refusal) {
  KJ_IF_MAYBE (message, refusal) {
    refuse(kj::mv(*message));
  }
}

kj::Maybe<Option> asOption(kj::StringPtr arg) {
  // "-" is an ordinary argument (stdin, by convention) and "--" ends the options.
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return nullptr;
  KJ_IF_MAYBE (eq, arg.findFirst('=')) {
    if (arg.startsWith("--")) {
      return Option{kj::heapString(arg.slice(0, *eq)), arg.slice(*eq + 1)};
    }
  }
  return Option{kj::heapString(arg), nullptr};
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool isUtf8(kj::StringPtr text) {
  auto bytes = text.asBytes();
  for (size_t i = 0; i < bytes.size();) {
    size_t length = utf8SequenceLength(bytes.slice(i, bytes.size()));
    if (length == 0) return false;
    i += length;
  }
  return true;
}

kj::Maybe<kj::StringPtr> ArgReader::next() {
  if (pos == args.size()) return nullptr;
  return args[pos++];
}

kj::StringPtr ArgReader::valueOf(const Option& option) {
  KJ_IF_MAYBE (value, option.inlineValue) {
    return *value;
  }
  KJ_IF_MAYBE (value, next()) {
    return *value;
  }
  refuse(kj::str("option ", option.name, " needs a value"));
}

void ArgReader::flag(const Option& option) {
  if (option.inlineValue != nullptr) refuse(kj::str("option ", option.name, " takes no value"));
}

bool ArgReader::takeGlobal(const Option& option) {
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

void ArgReader::unknownOption(const Option& option) {
  refuse(kj::str("unknown option ", option.name, " (see taskctl --help)"));
}

void ArgReader::walk(kj::FunctionParam<bool(const Option&)> onOption,
                     kj::FunctionParam<void(kj::StringPtr)> onPositional) {
  bool optionsEnded = false;
  while (pos < args.size()) {
    kj::StringPtr arg = args[pos++];
    if (!optionsEnded) {
      if (arg == "--") {
        optionsEnded = true;
        continue;
      }
      KJ_IF_MAYBE (option, asOption(arg)) {
        if (!takeGlobal(*option) && !onOption(*option)) unknownOption(*option);
        continue;
      }
    }
    onPositional(arg);
  }
}

kj::StringPtr ArgReader::subcommand(kj::StringPtr missing) {
  for (;;) {
    KJ_IF_MAYBE (arg, next()) {
      KJ_IF_MAYBE (option, asOption(*arg)) {
        if (!takeGlobal(*option)) unknownOption(*option);
        continue;
      }
      return *arg;
    }
    refuse(kj::str(missing));
  }
}

uint64_t ArgReader::limit(const Option& option, kj::Maybe<uint64_t> (*parse)(kj::StringPtr),
                          kj::StringPtr like) {
  auto text = valueOf(option);
  KJ_IF_MAYBE (value, parse(text)) {
    if (*value > 0) return *value;
  }
  refuse(kj::str(option.name, " must be ", like, ", not '", text, "'"));
}

LabelArg ArgReader::label(const Option& option) {
  auto text = valueOf(option);
  KJ_IF_MAYBE (eq, text.findFirst('=')) {
    if (*eq > 0) {
      return LabelArg{kj::heapString(text.begin(), *eq), kj::heapString(text.slice(*eq + 1))};
    }
  }
  refuse(kj::str(option.name, " needs KEY=VALUE, not '", text, "'"));
}

uint64_t ArgReader::id(kj::StringPtr arg) {
  KJ_IF_MAYBE (value, parseUnsigned(arg)) {
    return *value;
  }
  refuse(kj::str("not a task id: '", arg, "'"));
}

}  // namespace cmdline
}  // namespace taskctl
