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
  auto spec = result.spec;
  auto limits = spec.getLimits();
  // Lists whose length is known only at the end.
  kj::Vector<LabelArg> labels;
  kj::Vector<DependencyArg> after;
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
    KJ_IF_MAYBE (option, asOption(arg)) {
      if (in.takeGlobal(*option) || extra(*option)) continue;
      if (option->name == "--queue") {
        spec.setQueue(in.valueOf(*option));
      } else if (option->name == "--priority") {
        auto text = in.valueOf(*option);
        auto value = parseSigned(text).orDefault(INT64_MAX);  // out of range
        if (value < spec::MIN_PRIORITY || value > spec::MAX_PRIORITY) {
          refuse(kj::str("--priority must be an integer from ", spec::MIN_PRIORITY, " to ",
                         spec::MAX_PRIORITY, ", not '", text, "'"));
        }
        spec.setPriority(static_cast<int32_t>(value));
      } else if (option->name == "--label") {
        // The daemon's bounds, checked here too so that a mistake costs no round trip.
        auto& added = labels.add(in.label(*option));
        if (labels.size() > spec::MAX_LABELS) {
          refuse(kj::str("at most ", spec::MAX_LABELS, " --label options"));
        }
        if (added.key.size() > spec::MAX_LABEL_KEY_BYTES) {
          refuse(kj::str("--label: a key is at most ", spec::MAX_LABEL_KEY_BYTES, " bytes"));
        }
        if (added.value.size() > spec::MAX_LABEL_VALUE_BYTES) {
          refuse(kj::str("--label ", added.key, ": a value is at most ",
                         spec::MAX_LABEL_VALUE_BYTES, " bytes"));
        }
      } else if (option->name == "--wait") {
        in.flag(*option);
        result.wait = true;
      } else if (option->name == "--hold") {
        in.flag(*option);
        spec.setHold(true);
      } else if (option->name == "--timeout") {
        limits.setTimeoutUsec(
            in.limit(*option, parseDurationUsec, "a duration like 90s, 10m or 1h30m"));
      } else if (option->name == "--kill-grace") {
        limits.setKillGraceUsec(
            in.limit(*option, parseDurationUsec, "a duration like 10s or 500ms"));
      } else if (option->name == "--heartbeat") {
        limits.setHeartbeatUsec(in.limit(*option, parseDurationUsec, "a duration like 30s or 5m"));
      } else if (option->name == "--cpu") {
        limits.setCpuQuotaPerSecUsec(in.limit(*option, parseCpuQuotaPerSecUsec,
                                              "a share of one CPU like 50% (200% for two CPUs)"));
      } else if (option->name == "--memory") {
        limits.setMemoryMaxBytes(in.limit(*option, parseBytes, "a size like 512M"));
      } else if (option->name == "--tasks-max") {
        limits.setTasksMax(in.limit(*option, parseUnsigned, "a number of processes like 100"));
      } else if (option->name == "--after") {
        after.add(taken(parseDependency(in.valueOf(*option))));
      } else if (option->name == "--in") {
        auto text = in.valueOf(*option);
        KJ_IF_MAYBE (usec, parseDurationUsec(text)) {
          spec.setDelayUsec(*usec);
        } else {
          refuse(kj::str("--in must be a duration like 30s, 10m or 2h, not '", text, "'"));
        }
        delayGiven = true;
      } else if (option->name == "--at") {
        auto parsed = parseTimeSpec(in.valueOf(*option));
        if (parsed.is<kj::String>()) refuse(kj::str("--at ", parsed.get<kj::String>()));
        spec.setNotBefore(parsed.get<int64_t>());
        atGiven = true;
      } else if (option->name == "--retries") {
        auto text = in.valueOf(*option);
        auto value = parseUnsigned(text).orDefault(UINT64_MAX);
        if (value > spec::MAX_RETRIES) {
          refuse(kj::str("--retries must be a number from 0 to ", spec::MAX_RETRIES, ", not '",
                         text, "'"));
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
        spec.setKey(text);
      } else if (option->name == "--on-conflict") {
        auto text = in.valueOf(*option);
        KJ_IF_MAYBE (conflict, parseKeyConflict(text)) {
          spec.setOnConflict(*conflict);
        } else {
          refuse(kj::str("--on-conflict must be replace, skip or queue, not '", text, "'"));
        }
        onConflictGiven = true;
      } else if (option->name == "--request-id") {
        auto text = in.valueOf(*option);
        refuseIf(checkIdentifier("--request-id", text));
        spec.setRequestId(text);
      } else {
        in.unknownOption(*option);
      }
      continue;
    }
    in.back();  // the command's first word
    break;
  }
  kj::Vector<kj::StringPtr> command;
  while (!in.atEnd()) command.add(KJ_ASSERT_NONNULL(in.next()));
  if (command.size() == 0) {
    refuse(kj::str("submit needs a command: taskctl submit [OPTIONS] -- CMD [ARGS...]"));
  }
  auto argv = spec.initArgv(command.size());
  for (auto i : kj::indices(command)) argv.set(i, command[i].asBytes());
  auto labelList = spec.initLabels(labels.size());
  for (auto i : kj::indices(labels)) {
    labelList[i].setKey(labels[i].key);
    labelList[i].setValue(labels[i].value);
  }
  auto afterList = spec.initAfter(after.size());
  for (auto i : kj::indices(after)) {
    afterList[i].setId(after[i].id);
    afterList[i].setCondition(after[i].condition);
  }

  if (delayGiven && atGiven) refuse(kj::str("--in and --at cannot be used together"));
  if (retriesGiven) {
    setRetryPolicy(spec.initRetry(), retries, retryOn, backoff);
  } else {
    if (retryOn != nullptr) refuse(kj::str("--retry-on needs --retries N"));
    if (backoff != nullptr) refuse(kj::str("--backoff needs --retries N"));
  }
  if (onConflictGiven && spec.getKey().size() == 0) refuse(kj::str("--on-conflict needs --key K"));
  return result;
}

}  // namespace cmdline
}  // namespace taskctl
