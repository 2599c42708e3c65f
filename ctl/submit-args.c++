// submit's options (and schedule add's, which are submit's and a few more).
#include <kj/debug.h>

#include "arg-reader.h"
#include "common/units.h"
#include "submit-options.h"
#include "time-spec.h"

namespace taskctl {
namespace cmdline {

namespace {

SubmitArgs parseSubmitOptions(ArgReader& in, kj::FunctionParam<bool(const Option&)> extra,
                              bool commandOptional) {
  SubmitArgs result;
  auto mark = [&](kj::StringPtr field) {
    for (auto known : result.given) {
      if (known == field) return;
    }
    result.given.add(field);
  };
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
  RetryGrowth growth;
  // Options end at "--" or, as with env(1) and nohup(1), at the first word of the command:
  // whatever follows belongs to the command, even words that look like our options.
  while (!in.atEnd()) {
    kj::StringPtr arg = KJ_ASSERT_NONNULL(in.next());
    if (arg == "--") break;
    KJ_IF_MAYBE (option, asOption(arg)) {
      if (in.takeGlobal(*option) || extra(*option)) continue;
      if (option->name == "--queue") {
        mark("queue");
        spec.setQueue(in.valueOf(*option));
      } else if (option->name == "--priority") {
        mark("priority");
        auto text = in.valueOf(*option);
        auto value = parseSigned(text).orDefault(INT64_MAX);  // out of range
        if (value < spec::MIN_PRIORITY || value > spec::MAX_PRIORITY) {
          refuse(kj::str("--priority must be an integer from ", spec::MIN_PRIORITY, " to ",
                         spec::MAX_PRIORITY, ", not '", text, "'"));
        }
        spec.setPriority(static_cast<int32_t>(value));
      } else if (option->name == "--label") {
        mark("labels");
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
        mark("limits.timeoutUsec");
        limits.setTimeoutUsec(
            in.limit(*option, parseDurationUsec, "a duration like 90s, 10m or 1h30m"));
      } else if (option->name == "--kill-grace") {
        mark("limits.killGraceUsec");
        limits.setKillGraceUsec(
            in.limit(*option, parseDurationUsec, "a duration like 10s or 500ms"));
      } else if (option->name == "--heartbeat") {
        mark("limits.heartbeatUsec");
        limits.setHeartbeatUsec(in.limit(*option, parseDurationUsec, "a duration like 30s or 5m"));
      } else if (option->name == "--cpu") {
        mark("limits.cpuQuotaPerSecUsec");
        limits.setCpuQuotaPerSecUsec(in.limit(*option, parseCpuQuotaPerSecUsec,
                                              "a share of one CPU like 50% (200% for two CPUs)"));
      } else if (option->name == "--memory") {
        mark("limits.memoryMaxBytes");
        limits.setMemoryMaxBytes(in.limit(*option, parseBytes, "a size like 512M"));
      } else if (option->name == "--tasks-max") {
        mark("limits.tasksMax");
        limits.setTasksMax(in.limit(*option, parseUnsigned, "a number of processes like 100"));
      } else if (option->name == "--after") {
        mark("after");
        after.add(taken(parseDependency(in.valueOf(*option))));
      } else if (option->name == "--in") {
        mark("delayUsec");
        auto text = in.valueOf(*option);
        KJ_IF_MAYBE (usec, parseDurationUsec(text)) {
          spec.setDelayUsec(*usec);
        } else {
          refuse(kj::str("--in must be a duration like 30s, 10m or 2h, not '", text, "'"));
        }
        delayGiven = true;
      } else if (option->name == "--at") {
        mark("notBefore");
        auto parsed = parseTimeSpec(in.valueOf(*option));
        if (parsed.is<kj::String>()) refuse(kj::str("--at ", parsed.get<kj::String>()));
        spec.setNotBefore(parsed.get<int64_t>());
        atGiven = true;
      } else if (option->name == "--retries") {
        mark("retry");
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
      } else if (option->name == "--memory-grow") {
        growth.memoryFactor = taken(parseGrowFactor("--memory-grow", in.valueOf(*option)));
      } else if (option->name == "--memory-max") {
        growth.memoryMaxBytes = in.limit(*option, parseBytes, "a size like 16G");
      } else if (option->name == "--timeout-grow") {
        growth.timeoutFactor = taken(parseGrowFactor("--timeout-grow", in.valueOf(*option)));
      } else if (option->name == "--timeout-max") {
        growth.timeoutMaxUsec = in.limit(*option, parseDurationUsec, "a duration like 6h");
      } else if (option->name == "--key") {
        mark("key");
        auto text = in.valueOf(*option);
        refuseIf(checkIdentifier("--key", text));
        spec.setKey(text);
      } else if (option->name == "--on-conflict") {
        mark("onConflict");
        auto text = in.valueOf(*option);
        KJ_IF_MAYBE (conflict, parseKeyConflict(text)) {
          spec.setOnConflict(*conflict);
        } else {
          refuse(kj::str("--on-conflict must be replace, skip or queue, not '", text, "'"));
        }
        onConflictGiven = true;
      } else if (option->name == "--request-id") {
        mark("requestId");
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
  if (command.size() == 0 && !commandOptional) {
    refuse(kj::str("submit needs a command: taskctl submit [OPTIONS] -- CMD [ARGS...]"));
  }
  if (command.size() > 0) {
    mark("argv");
    auto argv = spec.initArgv(command.size());
    for (auto i : kj::indices(command)) argv.set(i, command[i].asBytes());
  }
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
  // Growth follows a named condition, and a maximum its factor (the daemon checks the same, and
  // the maximum against the limit in force, which may be the queue's).
  bool oom = false, timeout = false;
  KJ_IF_MAYBE (given, retryOn) {
    oom = given->onOom;
    timeout = given->onTimeout;
  }
  if (growth.memoryFactor != 0 && !oom) {
    refuse(
        kj::str("--memory-grow needs --retry-on oom (it grows the memory limit of a retry "
                "after a memory kill)"));
  }
  if (growth.timeoutFactor != 0 && !timeout) {
    refuse(
        kj::str("--timeout-grow needs --retry-on timeout (it grows the timeout of a retry "
                "after a timeout)"));
  }
  if (growth.memoryMaxBytes != 0 && growth.memoryFactor == 0) {
    refuse(kj::str("--memory-max needs --memory-grow"));
  }
  if (growth.timeoutMaxUsec != 0 && growth.timeoutFactor == 0) {
    refuse(kj::str("--timeout-max needs --timeout-grow"));
  }
  if (growth.memoryMaxBytes != 0 && growth.memoryMaxBytes < limits.getMemoryMaxBytes()) {
    refuse(kj::str("--memory-max (", formatBytes(growth.memoryMaxBytes),
                   ") must not be below --memory (", formatBytes(limits.getMemoryMaxBytes()), ")"));
  }
  if (growth.timeoutMaxUsec != 0 && growth.timeoutMaxUsec < limits.getTimeoutUsec()) {
    refuse(kj::str("--timeout-max (", formatDurationUsec(growth.timeoutMaxUsec),
                   ") must not be below --timeout (", formatDurationUsec(limits.getTimeoutUsec()),
                   ")"));
  }
  if (retriesGiven) {
    setRetryPolicy(spec.initRetry(), retries, retryOn, backoff, growth);
  } else {
    if (retryOn != nullptr) refuse(kj::str("--retry-on needs --retries N"));
    if (backoff != nullptr) refuse(kj::str("--backoff needs --retries N"));
  }
  // rerun: the old task's key may be the one meant.
  if (onConflictGiven && spec.getKey().size() == 0 && !commandOptional) {
    refuse(kj::str("--on-conflict needs --key K"));
  }
  return result;
}

}  // namespace

SubmitArgs parseSubmit(ArgReader& in, kj::FunctionParam<bool(const Option&)> extra) {
  return parseSubmitOptions(in, extra, false);
}

RerunArgs parseRerun(ArgReader& in) {
  // Global options may come first; then the id.
  for (;;) {
    KJ_IF_MAYBE (arg, in.next()) {
      KJ_IF_MAYBE (option, asOption(*arg)) {
        if (!in.takeGlobal(*option)) {
          refuse(kj::str("rerun needs the task id first: taskctl rerun ID [OPTIONS] [-- CMD...]"));
        }
        continue;
      }
      uint64_t id = in.id(*arg);
      return RerunArgs{id, parseSubmitOptions(
                               in, [](const Option&) { return false; }, true)};
    }
    refuse(kj::str("rerun needs a task id: taskctl rerun ID [OPTIONS] [-- CMD...]"));
  }
}

EditArgs parseEdit(ArgReader& in) {
  for (;;) {
    KJ_IF_MAYBE (arg, in.next()) {
      KJ_IF_MAYBE (option, asOption(*arg)) {
        if (!in.takeGlobal(*option)) {
          refuse(kj::str("edit needs the task id first: taskctl edit ID [OPTIONS] [-- CMD...]"));
        }
        continue;
      }
      uint64_t id = in.id(*arg);
      auto notHere = [](const Option& option) {
        if (option.name == "--wait") {
          refuse(kj::str("edit takes no --wait (taskctl wait ID waits for the task)"));
        } else if (option.name == "--hold") {
          refuse(kj::str("edit takes no --hold (taskctl hold ID holds the task)"));
        } else if (option.name == "--request-id") {
          refuse(kj::str("edit cannot change a task's --request-id"));
        }
        return false;
      };
      auto args = EditArgs{id, parseSubmitOptions(in, notHere, true)};
      if (args.submit.given.size() == 0) {
        refuse(kj::str("edit needs something to change: taskctl edit ID [OPTIONS] [-- CMD...]"));
      }
      return args;
    }
    refuse(kj::str("edit needs a task id: taskctl edit ID [OPTIONS] [-- CMD...]"));
  }
}

}  // namespace cmdline
}  // namespace taskctl
