// submit's options (and schedule add's, which are submit's and a few more).
#include <kj/debug.h>

#include "arg-reader.h"
#include "common/units.h"
#include "submit-options.h"
#include "time-spec.h"

namespace taskctl {
namespace cmdline {

SubmitArgs parseSubmit(ArgReader& in, kj::FunctionParam<bool(const Option&)> extra) {
  SubmitArgs result;
  // Options whose meaning depends on others, checked once all are read.
  bool delayGiven = false, atGiven = false, onConflictGiven = false, retriesGiven = false;
  uint32_t retries = 0;
  kj::Maybe<RetryConditions> retryOn;
  kj::Maybe<Backoff> backoff;
  // Options end at "--" or, as with env(1) and nohup(1), at the first word of the command:
  // whatever follows belongs to the command, even words that look like our options.
  while (!in.atEnd()) {
    kj::StringPtr arg = KJ_ASSERT_NONNULL(in.next());
    if (arg == "--") break;
    KJ_IF_MAYBE(option, asOption(arg)) {
      if (in.takeGlobal(*option) || extra(*option)) continue;
      if (option->name == "--queue") {
        result.queue = kj::heapString(in.valueOf(*option));
      } else if (option->name == "--priority") {
        auto text = in.valueOf(*option);
        auto value = parseSigned(text).orDefault(1000);
        if (value < -100 || value > 100) {
          refuse(kj::str("--priority must be an integer from -100 to 100, not '", text, "'"));
        }
        result.priority = static_cast<int32_t>(value);
      } else if (option->name == "--label") {
        result.labels.add(in.label(*option));
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
        in.flag(*option);
        result.wait = true;
      } else if (option->name == "--timeout") {
        result.timeoutUsec =
            in.limit(*option, parseDurationUsec, "a duration like 90s, 10m or 1h30m");
      } else if (option->name == "--kill-grace") {
        result.killGraceUsec = in.limit(*option, parseDurationUsec, "a duration like 10s or 500ms");
      } else if (option->name == "--heartbeat") {
        result.heartbeatUsec = in.limit(*option, parseDurationUsec, "a duration like 30s or 5m");
      } else if (option->name == "--cpu") {
        result.cpuQuotaPerSecUsec = in.limit(*option, parseCpuQuotaPerSecUsec,
                                          "a share of one CPU like 50% (200% for two CPUs)");
      } else if (option->name == "--memory") {
        result.memoryMaxBytes = in.limit(*option, parseBytes, "a size like 512M");
      } else if (option->name == "--tasks-max") {
        result.tasksMax = in.limit(*option, parseUnsigned, "a number of processes like 100");
      } else if (option->name == "--after") {
        result.after.add(taken(parseDependency(in.valueOf(*option))));
      } else if (option->name == "--in") {
        auto text = in.valueOf(*option);
        KJ_IF_MAYBE(usec, parseDurationUsec(text)) {
          result.delayUsec = *usec;
        } else {
          refuse(kj::str("--in must be a duration like 30s, 10m or 2h, not '", text, "'"));
        }
        delayGiven = true;
      } else if (option->name == "--at") {
        auto parsed = parseTimeSpec(in.valueOf(*option));
        if (parsed.is<kj::String>()) refuse(kj::str("--at ", parsed.get<kj::String>()));
        result.notBefore = parsed.get<int64_t>();
        atGiven = true;
      } else if (option->name == "--retries") {
        auto text = in.valueOf(*option);
        auto value = parseUnsigned(text).orDefault(UINT64_MAX);
        if (value > MAX_RETRIES) {
          refuse(kj::str("--retries must be a number from 0 to ", MAX_RETRIES, ", not '", text,
                         "'"));
        }
        retries = static_cast<uint32_t>(value);
        retriesGiven = true;
      } else if (option->name == "--retry-on") {
        if (retryOn == nullptr) retryOn = RetryConditions();
        refuseIf(addRetryConditions(KJ_ASSERT_NONNULL(retryOn), in.valueOf(*option)));
      } else if (option->name == "--backoff") {
        backoff = taken(parseBackoff(in.valueOf(*option)));
      } else if (option->name == "--key") {
        auto text = in.valueOf(*option);
        refuseIf(checkIdentifier("--key", text));
        result.key = kj::heapString(text);
      } else if (option->name == "--on-conflict") {
        auto text = in.valueOf(*option);
        KJ_IF_MAYBE(conflict, parseKeyConflict(text)) {
          result.onConflict = *conflict;
        } else {
          refuse(kj::str("--on-conflict must be replace, skip or queue, not '", text, "'"));
        }
        onConflictGiven = true;
      } else if (option->name == "--request-id") {
        auto text = in.valueOf(*option);
        refuseIf(checkIdentifier("--request-id", text));
        result.requestId = kj::heapString(text);
      } else {
        in.unknownOption(*option);
      }
      continue;
    }
    in.back();  // the command's first word
    break;
  }
  kj::Vector<kj::String> command;
  while (!in.atEnd()) command.add(kj::heapString(KJ_ASSERT_NONNULL(in.next())));
  if (command.size() == 0) {
    refuse(kj::str("submit needs a command: taskctl submit [OPTIONS] -- CMD [ARGS...]"));
  }
  result.command = command.releaseAsArray();

  if (delayGiven && atGiven) refuse(kj::str("--in and --at cannot be used together"));
  if (retriesGiven) {
    result.retry = retryPolicy(retries, retryOn, backoff);
  } else {
    if (retryOn != nullptr) refuse(kj::str("--retry-on needs --retries N"));
    if (backoff != nullptr) refuse(kj::str("--backoff needs --retries N"));
  }
  if (onConflictGiven && result.key == nullptr) refuse(kj::str("--on-conflict needs --key K"));
  return result;}

}  // namespace cmdline
}  // namespace taskctl
