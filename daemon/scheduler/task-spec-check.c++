#include "scheduler/task-spec-check.h"

#include <string.h>

#include <algorithm>

#include "common/errors.h"
#include "common/units.h"

namespace taskctl {

namespace {

constexpr uint64_t YEAR_USEC = 366ull * 86400 * 1000000;

bool holdsNul(kj::ArrayPtr<const kj::byte> bytes) {
  return bytes.size() > 0 && memchr(bytes.begin(), 0, bytes.size()) != nullptr;
}
bool holdsNul(kj::StringPtr text) { return holdsNul(text.asBytes()); }

}  // namespace

// argv, env and cwd reach execve and chdir as C strings: a NUL would cut
// them, so the shim refuses them, and that refusal must come here, at submit,
// not at every attempt. Every field is bounded, and the whole request too
// (issue 13: no one user's task can be what makes a store, a list page or the
// shim fail).
void checkTaskSpec(spec::TaskSpec::Reader request) {
  size_t total = request.totalSize().wordCount * sizeof(capnp::word);
  if (total > MAX_TASK_BYTES) {
    refuse(kj::str("the task is ", total,
                   " bytes encoded (argv, env, cwd, labels and options "
                   "together); the limit is 2 MiB (2097152 bytes)"));
  }
  auto argv = request.getArgv();
  if (argv.size() == 0 || argv[0].size() == 0)
    refuse(kj::str("empty command: give a command after --"));
  size_t bytes = 0;
  for (auto i : kj::indices(argv)) {
    if (holdsNul(argv[i])) refuse(kj::str("argv[", i, "] holds a NUL byte"));
    bytes += argv[i].size() + 1;
  }
  auto env = request.getEnv();
  for (auto i : kj::indices(env)) {
    auto entry = env[i];
    if (holdsNul(entry)) refuse(kj::str("environment entry ", i, " holds a NUL byte"));
    auto eq = std::find(entry.begin(), entry.end(), '=');
    if (eq == entry.begin() || eq == entry.end()) {
      refuse(kj::str("environment entry ", i, " is not NAME=VALUE"));
    }
    bytes += entry.size() + 1;
  }
  if (bytes > spec::MAX_COMMAND_BYTES) {
    refuse(kj::str("command and environment are ", bytes,
                   " bytes; the limit is 1 MiB (1048576 bytes)"));
  }
  auto cwd = request.getCwd();  // empty: "/"
  if (cwd.size() > spec::MAX_CWD_BYTES) {
    refuse(kj::str("cwd is ", cwd.size(), " bytes; the limit is ", spec::MAX_CWD_BYTES));
  }
  if (holdsNul(cwd)) refuse(kj::str("cwd holds a NUL byte"));
  if (cwd.size() > 0 && cwd[0] != '/') {
    refuse(kj::str("cwd \"", kj::heapString(cwd.asChars()), "\" is not an absolute path"));
  }
  auto queue = request.getQueue();
  if (queue.size() > spec::MAX_QUEUE_NAME_BYTES) refuse(kj::str("queue name is over 256 bytes"));
  if (holdsNul(queue)) refuse(kj::str("queue name holds a NUL byte"));
  auto priority = request.getPriority();
  if (priority < spec::MIN_PRIORITY || priority > spec::MAX_PRIORITY) {
    refuse(kj::str("priority ", priority, " is out of range -100..100"));
  }
  auto labels = request.getLabels();
  if (labels.size() > spec::MAX_LABELS) {
    refuse(kj::str(labels.size(), " labels; the limit is ", spec::MAX_LABELS));
  }
  for (auto label : labels) {
    auto key = label.getKey();
    if (key.size() > spec::MAX_LABEL_KEY_BYTES) {
      refuse(
          kj::str("label key of ", key.size(), " bytes; the limit is ", spec::MAX_LABEL_KEY_BYTES));
    }
    if (holdsNul(key)) refuse(kj::str("label key holds a NUL byte"));
    if (key.size() == 0 || key.findFirst('=') != nullptr) {
      refuse(kj::str("invalid label key \"", key, "\""));
    }
    auto value = label.getValue();
    if (value.size() > spec::MAX_LABEL_VALUE_BYTES) {
      refuse(kj::str("label ", key, ": value of ", value.size(), " bytes; the limit is ",
                     spec::MAX_LABEL_VALUE_BYTES));
    }
    if (holdsNul(value)) refuse(kj::str("label ", key, ": value holds a NUL byte"));
  }
  auto retry = request.getRetry();
  if (retry.getRetries() > spec::MAX_RETRIES) {
    refuse(kj::str("retries ", retry.getRetries(), " is over ", spec::MAX_RETRIES));
  }
  if (retry.getBackoffMaxUsec() != 0 && retry.getBackoffMaxUsec() < retry.getBackoffBaseUsec()) {
    refuse(kj::str("backoff maximum is below its base"));
  }
  if (retry.getBackoffBaseUsec() > YEAR_USEC || retry.getBackoffMaxUsec() > YEAR_USEC) {
    refuse(kj::str("backoff is over a year"));
  }
  for (double factor : {retry.getMemoryGrowFactor(), retry.getTimeoutGrowFactor()}) {
    // NaN fails both comparisons: written so that it is refused too.
    if (factor != 0 && !(factor > 1 && factor <= spec::MAX_GROW_FACTOR)) {
      refuse(kj::str("a retry growth factor must be above 1x and at most ", spec::MAX_GROW_FACTOR,
                     "x, not ", factor, "x"));
    }
  }
  if (retry.getMemoryGrowFactor() != 0 && !retry.getOnOom()) {
    refuse(
        kj::str("--memory-grow needs --retry-on oom (it grows the limit of a retry after a "
                "memory kill)"));
  }
  if (retry.getTimeoutGrowFactor() != 0 && !retry.getOnTimeout()) {
    refuse(
        kj::str("--timeout-grow needs --retry-on timeout (it grows the timeout of a retry "
                "after a timeout)"));
  }
  if (retry.getMemoryGrowMaxBytes() != 0 && retry.getMemoryGrowFactor() == 0) {
    refuse(kj::str("--memory-max needs --memory-grow"));
  }
  if (retry.getTimeoutGrowMaxUsec() != 0 && retry.getTimeoutGrowFactor() == 0) {
    refuse(kj::str("--timeout-max needs --timeout-grow"));
  }
  auto codes = retry.getExitCodes();
  if (codes.size() > spec::MAX_RETRY_EXIT_CODES) {
    refuse(kj::str(codes.size(), " retry exit codes; the limit is ", spec::MAX_RETRY_EXIT_CODES));
  }
  for (auto code : codes) {
    if (code < 1 || code > 255) refuse(kj::str("retry exit code ", code, " is not in 1..255"));
  }
  if (request.getAfter().size() > spec::MAX_DEPENDENCIES) {
    refuse(
        kj::str(request.getAfter().size(), " dependencies; the limit is ", spec::MAX_DEPENDENCIES));
  }
  // Keys and request ids are map keys as C strings: a NUL would make two differ in the store
  // and agree in memory.
  if (request.getKey().size() > spec::MAX_KEY_BYTES) refuse(kj::str("key is over 256 bytes"));
  if (holdsNul(request.getKey())) refuse(kj::str("key holds a NUL byte"));
  if (request.getRequestId().size() > spec::MAX_KEY_BYTES) {
    refuse(kj::str("request id is over 256 bytes"));
  }
  if (holdsNul(request.getRequestId())) refuse(kj::str("request id holds a NUL byte"));
}

void resolveLimits(spec::TaskLimits::Reader asked, const QueueConfig& queue,
                   spec::TaskLimits::Builder inForce) {
  auto limit = [](uint64_t given, uint64_t queueDefault, uint64_t queueMax = 0) {
    // With no default, a queue's maximum is the limit in force: a task that
    // names none must not run unbounded where the queue bounds them.
    return given ? given : queueDefault ? queueDefault : queueMax;
  };
  uint64_t timeout = limit(asked.getTimeoutUsec(), queue.timeoutUsec, queue.maxTimeoutUsec);
  uint64_t killGrace = limit(asked.getKillGraceUsec(), queue.killGraceUsec);
  if (killGrace == 0) killGrace = spec::DEFAULT_KILL_GRACE_USEC;  // stored as in force
  uint64_t heartbeat = limit(asked.getHeartbeatUsec(), queue.heartbeatUsec);
  uint64_t cpu =
      limit(asked.getCpuQuotaPerSecUsec(), queue.cpuQuotaPerSecUsec, queue.maxCpuQuotaPerSecUsec);
  uint64_t memory = limit(asked.getMemoryMaxBytes(), queue.memoryMaxBytes, queue.maxMemoryBytes);
  uint64_t tasksMax = limit(asked.getTasksMax(), queue.tasksMax);
  if (timeout > MAX_TIMEOUT_USEC) refuse(kj::str("timeout is over a year"));
  if (killGrace > spec::MAX_KILL_GRACE_USEC) refuse(kj::str("kill grace is over an hour"));
  if (heartbeat != 0 && heartbeat < 100000) refuse(kj::str("heartbeat is under 100ms"));
  if (heartbeat > YEAR_USEC) refuse(kj::str("heartbeat is over a year"));
  if (memory != 0 && memory < (1 << 20)) refuse(kj::str("memory limit is under 1M"));
  if (cpu != 0 && cpu < 10000) refuse(kj::str("cpu quota is under 1%"));
  inForce.setTimeoutUsec(timeout);
  inForce.setKillGraceUsec(killGrace);
  inForce.setHeartbeatUsec(heartbeat);
  inForce.setCpuQuotaPerSecUsec(cpu);
  inForce.setMemoryMaxBytes(memory);
  inForce.setTasksMax(tasksMax);
}

kj::Maybe<kj::String> aboveQueueMaximum(spec::TaskLimits::Reader limits, const QueueConfig& queue) {
  auto above = [&](kj::StringPtr what, kj::String value, kj::StringPtr key, kj::String max) {
    return kj::str(what, " ", value, " is above queue ", queue.name, "'s ", key, " (", max, ")");
  };
  if (queue.maxTimeoutUsec != 0 && limits.getTimeoutUsec() > queue.maxTimeoutUsec) {
    return above("timeout", formatDurationUsec(limits.getTimeoutUsec()), "max_timeout",
                 formatDurationUsec(queue.maxTimeoutUsec));
  }
  if (queue.maxMemoryBytes != 0 && limits.getMemoryMaxBytes() > queue.maxMemoryBytes) {
    return above("memory limit", formatBytes(limits.getMemoryMaxBytes()), "max_memory",
                 formatBytes(queue.maxMemoryBytes));
  }
  if (queue.maxCpuQuotaPerSecUsec != 0 &&
      limits.getCpuQuotaPerSecUsec() > queue.maxCpuQuotaPerSecUsec) {
    return above("cpu quota", formatCpuQuota(limits.getCpuQuotaPerSecUsec()), "max_cpu",
                 formatCpuQuota(queue.maxCpuQuotaPerSecUsec));
  }
  return nullptr;
}

void checkRetryGrowth(spec::RetryPolicy::Reader retry, spec::TaskLimits::Reader inForce) {
  // The limits in force are known only once the queue's defaults are in: a
  // queue's default memory limit is one --memory-grow may grow.
  if (retry.getMemoryGrowFactor() != 0) {
    uint64_t memory = inForce.getMemoryMaxBytes();
    if (memory == 0) {
      refuse(
          kj::str("--memory-grow needs a memory limit to grow (--memory, or the queue's "
                  "default)"));
    }
    uint64_t max = retry.getMemoryGrowMaxBytes();
    if (max != 0 && max < memory) {
      refuse(kj::str("--memory-max ", formatBytes(max), " is below the memory limit (",
                     formatBytes(memory), ")"));
    }
  }
  if (retry.getTimeoutGrowFactor() != 0) {
    uint64_t timeout = inForce.getTimeoutUsec();
    if (timeout == 0) {
      refuse(kj::str("--timeout-grow needs a timeout to grow (--timeout, or the queue's default)"));
    }
    uint64_t max = retry.getTimeoutGrowMaxUsec();
    if (max != 0 && max < timeout) {
      refuse(kj::str("--timeout-max ", formatDurationUsec(max), " is below the timeout (",
                     formatDurationUsec(timeout), ")"));
    }
    if (max > YEAR_USEC) refuse(kj::str("--timeout-max is over a year"));
  }
}

uint64_t grownLimit(uint64_t current, double factor, uint64_t max, uint64_t bound) {
  if (factor == 0 || current == 0) return current;
  long double grown = static_cast<long double>(current) * factor;
  uint64_t next =
      grown >= static_cast<long double>(UINT64_MAX) ? UINT64_MAX : static_cast<uint64_t>(grown);
  if (next <= current && current < UINT64_MAX) next = current + 1;
  if (max != 0) next = kj::min(next, max);
  next = kj::min(next, bound);
  return kj::max(next, current);
}

bool isDroppedVariable(kj::ArrayPtr<const kj::byte> entry) {
  auto eq = std::find(entry.begin(), entry.end(), '=');
  if (eq == entry.begin() || eq == entry.end()) return true;  // not KEY=VALUE
  // Data is not NUL-terminated: compare as bytes.
  auto e = entry.asChars();
  auto startsWith = [&e](kj::StringPtr prefix) {
    return e.size() >= prefix.size() && memcmp(e.begin(), prefix.begin(), prefix.size()) == 0;
  };
  return startsWith("NOTIFY_SOCKET=") || startsWith("WATCHDOG_") || startsWith("LISTEN_") ||
         startsWith("INVOCATION_ID=") || startsWith("JOURNAL_STREAM=") || startsWith("LD_") ||
         startsWith("GCONV_PATH=") || startsWith("MALLOC_") || startsWith("GLIBC_TUNABLES=");
}

capnp::Orphan<capnp::List<capnp::Data>> keptEnvironment(capnp::List<capnp::Data>::Reader env,
                                                        capnp::Orphanage orphanage) {
  uint32_t kept = 0;
  for (auto e : env) kept += !isDroppedVariable(e);
  auto orphan = orphanage.newOrphan<capnp::List<capnp::Data>>(kept);
  auto list = orphan.get();
  uint32_t i = 0;
  for (auto e : env) {
    if (!isDroppedVariable(e)) list.set(i++, e);
  }
  return orphan;
}

void applyRetryDefault(spec::RetryPolicy::Builder policy) {
  if (policy.getRetries() > 0 && !policy.getOnExit() && !policy.getOnSignal() &&
      !policy.getOnOom() && !policy.getOnTimeout() && !policy.getOnHeartbeat() &&
      !policy.getOnLost()) {
    policy.setOnExit(true);
    policy.setOnTimeout(true);
    policy.setOnHeartbeat(true);
  }
}

}  // namespace taskctl
