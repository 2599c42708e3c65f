// `taskctl queue list|set|pause|resume`.
#include "arg-reader.h"

namespace taskctl {
namespace cmdline {

namespace {

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

}  // namespace

CommandArgs parseQueue(ArgReader& in) {
  auto subcommand = in.subcommand("queue needs a subcommand: list, set, pause or resume");
  if (subcommand == "list") {
    in.walk([](const Option&) { return false; },
            [&](kj::StringPtr arg) -> void {
              refuse(kj::str("queue list takes no arguments, got '", arg, "'"));
            });
    return QueueListArgs{};
  }
  if (subcommand == "set") {
    QueueSetArgs result;
    bool concurrencyGiven = false;
    kj::Vector<kj::StringPtr> names;
    in.walk(
        [&](const Option& option) {
          if (option.name != "--concurrency") return false;
          auto text = in.valueOf(option);
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
    in.walk([](const Option&) { return false; }, [&](kj::StringPtr arg) { names.add(arg); });
    return QueuePauseArgs{queueName(subcommand, names, ""), subcommand == "pause"};
  }
  refuse(kj::str("unknown queue subcommand '", subcommand, "' (list, set, pause or resume)"));
}

}  // namespace cmdline
}  // namespace taskctl
