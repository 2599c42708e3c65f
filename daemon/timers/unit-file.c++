#include "timers/unit-file.h"

#include <kj/debug.h>
#include <stdio.h>
#include <string.h>

namespace taskctl {
namespace {

constexpr kj::StringPtr PREFIX = "taskctl-schedule-"_kj;

bool nameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool hasControl(kj::StringPtr text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// A unit file value that is not an ExecStart= word: only specifiers apply.
kj::String escapePercent(kj::StringPtr text) {
  kj::Vector<char> out(text.size() + 1);
  for (char c : text) {
    if (c == '%') out.add('%');
    out.add(c);
  }
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

// Lossless for parseDurationUsec, which taskctl submit uses.
kj::String usec(uint64_t value) { return kj::str(value, "us"); }

kj::String cpuPercent(uint64_t perSecUsec) {
  uint64_t whole = perSecUsec / 10000, part = perSecUsec % 10000;
  if (part == 0) return kj::str(whole, "%");
  auto digits = kj::str(part + 10000);  // "1xxxx": keeps the leading zeros
  return kj::str(whole, ".", digits.slice(1), "%");
}

kj::String retryConditions(spec::RetryPolicy::Reader r) {
  kj::Vector<kj::String> items;
  if (r.getOnExit()) {
    if (r.getExitCodes().size() == 0) {
      items.add(kj::str("exit:any"));
    } else {
      items.add(kj::str("exit:", kj::strArray(r.getExitCodes(), ",")));
    }
  }
  if (r.getOnSignal()) items.add(kj::str("signal"));
  if (r.getOnOom()) items.add(kj::str("oom"));
  if (r.getOnTimeout()) items.add(kj::str("timeout"));
  if (r.getOnHeartbeat()) items.add(kj::str("heartbeat"));
  if (r.getOnLost()) items.add(kj::str("lost"));
  return kj::strArray(items, ",");
}

kj::StringPtr conflictWord(spec::KeyConflict conflict) {
  switch (conflict) {
    case spec::KeyConflict::QUEUE:
      return "queue";
    case spec::KeyConflict::SKIP:
      return "skip";
    case spec::KeyConflict::REPLACE:
      return "replace";
  }
  return "queue";  // a policy newer than this daemon: the default
}

}  // namespace

void setScheduleTask(ScheduleSpec& spec, spec::TaskSpec::Reader task) {
  for (auto arg : task.getArgv()) {
    KJ_REQUIRE(memchr(arg.begin(), '\0', arg.size()) == nullptr,
               "a scheduled command's arguments cannot hold NUL");
  }
  auto kept = spec.task;
  kept.setArgv(task.getArgv());
  kept.setCwd(task.getCwd());
  kept.setUmask(task.getUmask());
  kept.setQueue(task.getQueue());
  kept.setPriority(task.getPriority());
  kept.setLabels(task.getLabels());
  kept.setLimits(task.getLimits());
  // Retries of none are no policy: the firing's submit says nothing of retrying.
  if (task.hasRetry() && task.getRetry().getRetries() > 0) kept.setRetry(task.getRetry());
  kept.setKey(task.getKey());
  kept.setOnConflict(task.getOnConflict());
}

kj::Maybe<kj::String> checkScheduleName(kj::StringPtr name) {
  bool ok = name.size() >= 1 && name.size() <= 64;
  for (char c : name) ok = ok && nameChar(c);
  if (ok) return nullptr;
  return kj::str("a schedule name is 1 to 64 of a-z A-Z 0-9 _ -, not '", name, "'");
}

kj::String scheduleUnitBase(uint32_t uid, kj::StringPtr name) {
  return kj::str(PREFIX, uid, "-", name);
}

kj::Maybe<ScheduleKey> parseScheduleUnit(kj::StringPtr fileName, kj::StringPtr suffix) {
  if (!fileName.startsWith(PREFIX) || !fileName.endsWith(suffix)) return nullptr;
  auto rest = fileName.slice(PREFIX.size());
  auto body = kj::heapString(rest.slice(0, rest.size() - suffix.size()));
  KJ_IF_MAYBE (dash, body.findFirst('-')) {
    if (*dash == 0 || *dash > 10) return nullptr;
    uint64_t uid = 0;
    for (char c : body.slice(0, *dash)) {
      if (c < '0' || c > '9') return nullptr;
      uid = uid * 10 + (c - '0');
    }
    if (uid > UINT32_MAX) return nullptr;
    auto name = kj::heapString(body.slice(*dash + 1));
    if (checkScheduleName(name) != nullptr) return nullptr;
    return ScheduleKey{static_cast<uint32_t>(uid), kj::mv(name)};
  }
  return nullptr;
}

kj::String execStartQuote(kj::ArrayPtr<const char> argument) {
  static constexpr char HEX[] = "0123456789abcdef";
  kj::Vector<char> out(argument.size() + 3);
  out.add('"');
  for (char c : argument) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\\' || c == '"') {
      out.add('\\');
      out.add(c);
    } else if (c == '%' || c == '$') {
      out.add(c);
      out.add(c);
    } else if (byte < 0x20 || byte >= 0x7f) {
      out.add('\\');
      out.add('x');
      out.add(HEX[byte >> 4]);
      out.add(HEX[byte & 0xf]);
    } else {
      out.add(c);
    }
  }
  out.add('"');
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

kj::Array<kj::String> scheduleSubmitArgv(const ScheduleSpec& spec, kj::StringPtr taskctlPath) {
  kj::Vector<kj::String> argv;
  auto option = [&](kj::StringPtr name, kj::String value) {
    argv.add(kj::str(name));
    argv.add(kj::mv(value));
  };
  argv.add(kj::str(taskctlPath));
  argv.add(kj::str("submit"));
  auto task = spec.task.asReader();
  option("--label", kj::str("schedule=", spec.name));
  for (auto label : task.getLabels()) {
    KJ_REQUIRE(label.getKey() != "schedule",
               "the label schedule=NAME is set by taskctl; choose another key");
    option("--label", kj::str(label.getKey(), "=", label.getValue()));
  }
  if (task.getQueue().size() > 0) option("--queue", kj::str(task.getQueue()));
  if (task.getPriority() != 0) option("--priority", kj::str(task.getPriority()));
  auto limits = task.getLimits();
  if (limits.getTimeoutUsec()) option("--timeout", usec(limits.getTimeoutUsec()));
  if (limits.getKillGraceUsec()) option("--kill-grace", usec(limits.getKillGraceUsec()));
  if (limits.getHeartbeatUsec()) option("--heartbeat", usec(limits.getHeartbeatUsec()));
  if (limits.getCpuQuotaPerSecUsec()) option("--cpu", cpuPercent(limits.getCpuQuotaPerSecUsec()));
  if (limits.getMemoryMaxBytes()) option("--memory", kj::str(limits.getMemoryMaxBytes()));
  if (limits.getTasksMax()) option("--tasks-max", kj::str(limits.getTasksMax()));
  auto retry = task.getRetry();
  if (task.hasRetry() && retry.getRetries() > 0) {
    option("--retries", kj::str(retry.getRetries()));
    // No condition: `--retries N` alone, and the daemon that takes each firing's submit applies
    // its default ones (DESIGN 6).
    auto conditions = retryConditions(retry);
    if (conditions.size() > 0) option("--retry-on", kj::mv(conditions));
    if (retry.getBackoffBaseUsec() > 0) {
      option("--backoff",
             retry.getBackoffMaxUsec() > 0
                 ? kj::str(usec(retry.getBackoffBaseUsec()), ",", usec(retry.getBackoffMaxUsec()))
                 : usec(retry.getBackoffBaseUsec()));
    }
  }
  if (task.getKey().size() > 0) {
    option("--key", kj::str(task.getKey()));
    option("--on-conflict", kj::str(conflictWord(task.getOnConflict())));
  }
  argv.add(kj::str("--"));
  for (auto arg : task.getArgv()) argv.add(kj::heapString(arg.asChars()));
  return argv.releaseAsArray();
}

kj::String scheduleTimerUnit(const ScheduleSpec& spec) {
  KJ_REQUIRE(!hasControl(spec.onCalendar), "the calendar spec must be one line of text");
  auto base = scheduleUnitBase(spec.uid, spec.name);
  return kj::str("# Written by taskctld for uid ", spec.uid, ": taskctl schedule add ", spec.name,
                 ".\n# Remove it with: taskctl schedule remove ", spec.name, "\n",
                 "[Unit]\n"
                 "Description=taskctl schedule ",
                 spec.name, " of uid ", spec.uid,
                 "\n"
                 "\n"
                 "[Timer]\n"
                 "OnCalendar=",
                 escapePercent(spec.onCalendar),
                 "\n"
                 "Persistent=",
                 spec.persistent ? "true" : "false",
                 "\n"
                 "AccuracySec=",
                 spec.accuracyUsec > 0 ? usec(spec.accuracyUsec) : kj::str("1min"),
                 "\n"
                 "Unit=",
                 base,
                 ".service\n"
                 "\n"
                 "[Install]\n"
                 "WantedBy=timers.target\n");
}

kj::String scheduleServiceUnit(const ScheduleSpec& spec, kj::StringPtr taskctlPath,
                               kj::StringPtr socketPath) {
  auto cwd = kj::heapString(spec.task.asReader().getCwd().asChars());
  KJ_REQUIRE(cwd.startsWith("/") && !hasControl(cwd) && cwd.findFirst('\\') == nullptr,
             "the working directory must be an absolute path without control characters or "
             "backslashes to be scheduled");
  KJ_REQUIRE(!hasControl(socketPath) && socketPath.findFirst('\\') == nullptr &&
             socketPath.findFirst('"') == nullptr);
  auto argv = scheduleSubmitArgv(spec, taskctlPath);
  auto words = KJ_MAP(arg, argv) { return execStartQuote(arg); };
  char umask[8];
  snprintf(umask, sizeof(umask), "%04o", spec.task.asReader().getUmask() & 0777);
  return kj::str("# Written by taskctld for uid ", spec.uid, ": taskctl schedule add ", spec.name,
                 ".\n# Each run submits one task to taskctld, as that user.\n"
                 "[Unit]\n"
                 "Description=taskctl schedule ",
                 spec.name, " of uid ", spec.uid,
                 "\n"
                 "\n"
                 "[Service]\n"
                 "Type=oneshot\n"
                 "User=",
                 spec.uid,
                 "\n"
                 "WorkingDirectory=",
                 escapePercent(cwd),
                 "\n"
                 "UMask=",
                 umask,
                 "\n"
                 "Environment=\"TASKCTL_SOCKET=",
                 escapePercent(socketPath),
                 "\"\n"
                 "ExecStart=",
                 kj::strArray(words, " "), "\n");
}

kj::String timerOnCalendar(kj::StringPtr unitText) {
  constexpr kj::StringPtr KEY = "OnCalendar="_kj;
  size_t start = 0;
  while (start < unitText.size()) {
    auto rest = unitText.slice(start);
    size_t end = rest.findFirst('\n').orDefault(rest.size());
    auto line = kj::heapString(rest.slice(0, end));
    if (line.startsWith(KEY)) {
      // Undo escapePercent.
      kj::Vector<char> out;
      auto value = line.slice(KEY.size());
      for (size_t i = 0; i < value.size(); i++) {
        out.add(value[i]);
        if (value[i] == '%' && i + 1 < value.size() && value[i + 1] == '%') i++;
      }
      out.add('\0');
      return kj::String(out.releaseAsArray());
    }
    start += end + 1;
  }
  return kj::str();
}

}  // namespace taskctl
