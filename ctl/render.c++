#include "render.h"

#include <kj/vector.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/units.h"
#include "format.h"

namespace taskctl {

namespace {

// How much of the last attempt's output `status` shows: enough to see how it ended.
constexpr size_t OUTPUT_TAIL_LINES = 10;

void timeOrNull(JsonWriter& json, int64_t ns) {
  if (ns == 0) {
    json.null();
  } else {
    json.string(isoTimeUtc(ns));
  }
}

// Non-negative values are real; the schema's defaults (-1 exit code, 0 signal or pid) mean none.
void positiveOrNull(JsonWriter& json, int64_t value, bool zeroIsNone) {
  if (value < 0 || (zeroIsNone && value == 0)) {
    json.null();
  } else {
    json.integer(value);
  }
}

// A limit of 0 is none.
void limitOrNull(JsonWriter& json, uint64_t value) {
  if (value == 0) {
    json.null();
  } else {
    json.unsignedInteger(value);
  }
}

void writeLimitsJson(JsonWriter& json, rpc::TaskView::Reader task) {
  json.beginObject();
  json.key("timeout_usec");
  limitOrNull(json, task.getTimeoutUsec());
  json.key("kill_grace_usec");
  limitOrNull(json, task.getKillGraceUsec());
  json.key("heartbeat_usec");
  limitOrNull(json, task.getHeartbeatUsec());
  json.key("cpu_quota_per_sec_usec");
  limitOrNull(json, task.getCpuQuotaPerSecUsec());
  json.key("memory_max_bytes");
  limitOrNull(json, task.getMemoryMaxBytes());
  json.key("tasks_max");
  limitOrNull(json, task.getTasksMax());
  json.endObject();
}

kj::StringPtr conditionName(spec::DependencyCondition condition) {
  switch (condition) {
    case spec::DependencyCondition::OK:
      return "ok";
    case spec::DependencyCondition::ANY:
      return "any";
    case spec::DependencyCondition::FAILED:
      return "failed";
  }
  return "unknown";  // a condition newer than this client
}

void writeRetryJson(JsonWriter& json, spec::RetryPolicy::Reader retry) {
  json.beginObject();
  json.key("retries");
  json.unsignedInteger(retry.getRetries());
  json.key("on_exit");
  json.boolean(retry.getOnExit());
  json.key("exit_codes");
  json.beginArray();
  for (auto code : retry.getExitCodes()) json.integer(code);
  json.endArray();
  json.key("on_signal");
  json.boolean(retry.getOnSignal());
  json.key("on_oom");
  json.boolean(retry.getOnOom());
  json.key("on_timeout");
  json.boolean(retry.getOnTimeout());
  json.key("on_heartbeat");
  json.boolean(retry.getOnHeartbeat());
  json.key("on_lost");
  json.boolean(retry.getOnLost());
  json.key("backoff_base_usec");
  limitOrNull(json, retry.getBackoffBaseUsec());
  json.key("backoff_max_usec");
  limitOrNull(json, retry.getBackoffMaxUsec());
  // Growth: null when none (a factor of 0, a maximum of 0).
  json.key("memory_grow_factor");
  if (retry.getMemoryGrowFactor() > 0) {
    json.number(retry.getMemoryGrowFactor());
  } else {
    json.null();
  }
  json.key("memory_grow_max_bytes");
  limitOrNull(json, retry.getMemoryGrowMaxBytes());
  json.key("timeout_grow_factor");
  if (retry.getTimeoutGrowFactor() > 0) {
    json.number(retry.getTimeoutGrowFactor());
  } else {
    json.null();
  }
  json.key("timeout_grow_max_usec");
  limitOrNull(json, retry.getTimeoutGrowMaxUsec());
  json.endObject();
}

// Text that is optional: null when empty.
void textOrNull(JsonWriter& json, kj::StringPtr text) {
  if (text.size() == 0) {
    json.null();
  } else {
    json.string(text);
  }
}

void writeAttemptJson(JsonWriter& json, rpc::AttemptView::Reader attempt) {
  json.beginObject();
  json.key("number");
  json.unsignedInteger(attempt.getNumber());
  json.key("state");
  json.string(attempt.getState());
  json.key("reason");
  textOrNull(json, attempt.getReason());
  json.key("message");
  textOrNull(json, attempt.getMessage());
  json.key("exit_code");
  positiveOrNull(json, attempt.getExitCode(), false);
  json.key("signal");
  positiveOrNull(json, attempt.getSignal(), true);
  json.key("started_at");
  timeOrNull(json, attempt.getStartedAt());
  json.key("ended_at");
  timeOrNull(json, attempt.getEndedAt());
  json.key("shim_pid");
  positiveOrNull(json, attempt.getShimPid(), true);
  json.key("unit");
  textOrNull(json, attempt.getUnit());
  json.key("wall_usec");
  json.unsignedInteger(attempt.getWallUsec());
  json.key("cpu_user_usec");
  json.unsignedInteger(attempt.getCpuUserUsec());
  json.key("cpu_system_usec");
  json.unsignedInteger(attempt.getCpuSystemUsec());
  json.key("peak_memory_bytes");
  json.unsignedInteger(attempt.getPeakMemoryBytes());
  json.key("progress");
  if (attempt.getProgress() < 0) {
    json.null();
  } else {
    json.number(attempt.getProgress());
  }
  json.key("status_text");
  textOrNull(json, attempt.getStatusText());
  json.key("oom_kills");
  json.unsignedInteger(attempt.getOomKills());
  json.key("timeout_usec");
  limitOrNull(json, attempt.getTimeoutUsec());
  json.key("memory_max_bytes");
  limitOrNull(json, attempt.getMemoryMaxBytes());
  json.key("slurm_job_id");
  positiveOrNull(json, int64_t(attempt.getSlurmJobId()), true);
  json.key("slurm_node");
  textOrNull(json, attempt.getSlurmNode());
  json.key("output_tail");
  json.string(attempt.getOutputTail());
  json.endObject();
}

// A block of "key: value" lines whose values line up.
class Fields {
 public:
  void add(kj::StringPtr key, kj::String value) { fields.add(Field{key, kj::mv(value)}); }

  void appendTo(kj::Vector<char>& out, size_t indent) const {
    size_t keyWidth = 0;
    for (auto& field : fields) keyWidth = kj::max(keyWidth, field.key.size() + 1);
    for (auto& field : fields) {
      out.addAll(kj::repeat(' ', indent));
      out.addAll(field.key);
      out.add(':');
      out.addAll(kj::repeat(' ', keyWidth - field.key.size()));
      out.addAll(field.value);
      out.add('\n');
    }
  }

 private:
  struct Field {
    kj::StringPtr key;
    kj::String value;
  };
  kj::Vector<Field> fields;
};

kj::String stateWithReason(kj::StringPtr state, kj::StringPtr reason) {
  if (reason.size() == 0) return printable(state);
  return kj::str(printable(state), " (", printable(reason), ")");
}

kj::String signalName(int32_t signal) {
  // glibc's abbreviation, "KILL" for 9; unknown numbers stay numbers.
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return kj::str(signal);
  return kj::str(signal, " (SIG", abbrev, ")");
}

// The limits in force, on one line ("timeout 2s, kill grace 1s, memory 512M"), or "" for none.
kj::String limitsLine(rpc::TaskView::Reader task) {
  kj::Vector<kj::String> limits;
  if (task.getTimeoutUsec() != 0) {
    limits.add(kj::str("timeout ", formatDurationUsec(task.getTimeoutUsec())));
  }
  if (task.getKillGraceUsec() != 0) {
    limits.add(kj::str("kill grace ", formatDurationUsec(task.getKillGraceUsec())));
  }
  if (task.getHeartbeatUsec() != 0) {
    limits.add(kj::str("heartbeat ", formatDurationUsec(task.getHeartbeatUsec())));
  }
  if (task.getCpuQuotaPerSecUsec() != 0) {
    char buffer[32];
    snprintf(buffer, sizeof(buffer), "cpu %g%%", task.getCpuQuotaPerSecUsec() / 10000.0);
    limits.add(kj::str(buffer));
  }
  if (task.getMemoryMaxBytes() != 0) {
    limits.add(kj::str("memory ", formatBytes(task.getMemoryMaxBytes())));
  }
  if (task.getTasksMax() != 0) limits.add(kj::str("tasks max ", task.getTasksMax()));
  return kj::strArray(limits, ", ");
}

// The dependencies as --after takes them: "12:ok, 13:any".
kj::String dependenciesLine(capnp::List<spec::Dependency>::Reader after) {
  kj::Vector<kj::String> items(after.size());
  for (auto dependency : after) {
    items.add(kj::str(dependency.getId(), ':', conditionName(dependency.getCondition())));
  }
  return kj::strArray(items, ", ");
}

// The retry policy in force, or "" for none: "up to 3 times, on exit:any, timeout, heartbeat;
// backoff 1s to 10min". The conditions read as --retry-on takes them.
kj::String retryLine(spec::RetryPolicy::Reader retry) {
  if (retry.getRetries() == 0) return kj::str();
  kj::Vector<kj::String> conditions;
  if (retry.getOnExit()) {
    auto codes = retry.getExitCodes();
    if (codes.size() == 0) {
      conditions.add(kj::str("exit:any"));
    } else {
      conditions.add(kj::str("exit:", kj::strArray(codes, ",")));
    }
  }
  if (retry.getOnSignal()) conditions.add(kj::str("signal"));
  if (retry.getOnOom()) conditions.add(kj::str("oom"));
  if (retry.getOnTimeout()) conditions.add(kj::str("timeout"));
  if (retry.getOnHeartbeat()) conditions.add(kj::str("heartbeat"));
  if (retry.getOnLost()) conditions.add(kj::str("lost"));
  // 0 is the daemon's default (rpc.capnp, RetryPolicy).
  uint64_t base = retry.getBackoffBaseUsec() != 0 ? retry.getBackoffBaseUsec() : 1'000'000;
  uint64_t max = retry.getBackoffMaxUsec() != 0 ? retry.getBackoffMaxUsec() : 600'000'000;
  // Growth as the options take it: "; memory 2x up to 16G".
  auto growth = [](kj::StringPtr what, double factor, kj::String max) {
    if (factor <= 0) return kj::str();
    char buffer[32];
    snprintf(buffer, sizeof(buffer), "%gx", factor);
    return kj::str("; ", what, " ", buffer, max.size() ? kj::str(" up to ", max) : kj::str());
  };
  return kj::str(
      "up to ", retry.getRetries(), retry.getRetries() == 1 ? " time" : " times",
      conditions.size() > 0 ? kj::str(", on ", kj::strArray(conditions, ", ")) : kj::str(),
      "; backoff ", formatDurationUsec(base), " to ", formatDurationUsec(max),
      growth(
          "memory", retry.getMemoryGrowFactor(),
          retry.getMemoryGrowMaxBytes() ? formatBytes(retry.getMemoryGrowMaxBytes()) : kj::str()),
      growth("timeout", retry.getTimeoutGrowFactor(),
             retry.getTimeoutGrowMaxUsec() ? formatDurationUsec(retry.getTimeoutGrowMaxUsec())
                                           : kj::str()));
}

// `status` of a task retention has pruned: the tombstone is all there is.
kj::String prunedText(rpc::TaskView::Reader task) {
  Fields fields;
  fields.add("state", stateWithReason(task.getState(), task.getReason()));
  fields.add("exit status", kj::str(task.getExitStatus()));
  if (task.getExitCode() >= 0) fields.add("exit code", kj::str(task.getExitCode()));
  if (task.getSignal() > 0) fields.add("signal", signalName(task.getSignal()));
  fields.add("queue", printable(task.getQueue()));
  fields.add("owner", kj::str("uid ", task.getUid()));
  if (task.getFinishedAt() != 0) fields.add("finished", localTime(task.getFinishedAt()));

  kj::Vector<char> out(256);
  out.addAll(kj::str("task ", task.getId(), ": pruned (", printable(task.getState()),
                     ", exit status ", task.getExitStatus(), "); only its tombstone is kept\n"));
  fields.appendTo(out, 0);
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

// The last `count` lines of `tail` (a byte tail: its first line may be cut), each made safe for a
// terminal and indented, or nothing when the tail is empty.
void appendOutputTail(kj::Vector<char>& out, uint32_t attempt, kj::ArrayPtr<const kj::byte> tail,
                      size_t count) {
  if (tail.size() > 0 && tail[tail.size() - 1] == '\n') tail = tail.slice(0, tail.size() - 1);
  if (tail.size() == 0) return;
  size_t start = tail.size();
  for (size_t lines = 0; start > 0; start--) {
    if (tail[start - 1] == '\n' && ++lines == count) break;
  }
  out.addAll(kj::str("output of attempt ", attempt, " (last lines):\n"));
  for (size_t begin = start; begin <= tail.size();) {
    size_t end = begin;
    while (end < tail.size() && tail[end] != '\n') end++;
    out.addAll("  "_kj);
    out.addAll(printable(tail.slice(begin, end)));
    out.add('\n');
    begin = end + 1;
  }
}

kj::String finishString(kj::Vector<char>& out) {
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

void appendAttempt(kj::Vector<char>& out, rpc::AttemptView::Reader attempt) {
  Fields fields;
  fields.add("state", stateWithReason(attempt.getState(), attempt.getReason()));
  if (attempt.getMessage().size() > 0) fields.add("message", printable(attempt.getMessage()));
  if (attempt.getProgress() >= 0) fields.add("progress", percentage(attempt.getProgress()));
  if (attempt.getStatusText().size() > 0) {
    fields.add("status text", printable(attempt.getStatusText()));
  }
  if (attempt.getExitCode() >= 0) fields.add("exit code", kj::str(attempt.getExitCode()));
  if (attempt.getSignal() > 0) fields.add("signal", signalName(attempt.getSignal()));
  if (attempt.getStartedAt() != 0) fields.add("started", localTime(attempt.getStartedAt()));
  if (attempt.getEndedAt() != 0) fields.add("ended", localTime(attempt.getEndedAt()));
  if (attempt.getWallUsec() != 0) fields.add("wall time", humanDuration(attempt.getWallUsec()));
  if (attempt.getCpuUserUsec() != 0 || attempt.getCpuSystemUsec() != 0) {
    fields.add("cpu time", kj::str(humanDuration(attempt.getCpuUserUsec()), " user, ",
                                   humanDuration(attempt.getCpuSystemUsec()), " system"));
  }
  if (attempt.getPeakMemoryBytes() != 0) {
    fields.add("peak memory", humanBytes(attempt.getPeakMemoryBytes()));
  }
  if (attempt.getOomKills() > 0) fields.add("oom kills", kj::str(attempt.getOomKills()));
  {
    // The limits it ran with (a retry may have grown them); none from an older daemon.
    kj::Vector<kj::String> limits;
    if (attempt.getTimeoutUsec() != 0) {
      limits.add(kj::str("timeout ", formatDurationUsec(attempt.getTimeoutUsec())));
    }
    if (attempt.getMemoryMaxBytes() != 0) {
      limits.add(kj::str("memory ", formatBytes(attempt.getMemoryMaxBytes())));
    }
    if (limits.size() > 0) fields.add("limits", kj::strArray(limits, ", "));
  }
  if (attempt.getUnit().size() > 0) fields.add("unit", printable(attempt.getUnit()));
  if (attempt.getShimPid() > 0) fields.add("shim pid", kj::str(attempt.getShimPid()));
  if (attempt.getSlurmJobId() != 0) {
    fields.add("slurm job",
               attempt.getSlurmNode().size() > 0
                   ? kj::str(attempt.getSlurmJobId(), " on ", printable(attempt.getSlurmNode()))
                   : kj::str(attempt.getSlurmJobId()));
  }

  out.addAll(kj::str("attempt ", attempt.getNumber(), ":\n"));
  fields.appendTo(out, 2);
}

}  // namespace

kj::String taskLimitsLine(rpc::TaskView::Reader task) { return limitsLine(task); }

kj::String percentage(double fraction) {
  double percent = round(kj::min(kj::max(fraction, 0.0), 1.0) * 1000) / 10;
  char buffer[16];
  snprintf(buffer, sizeof(buffer), percent == floor(percent) ? "%.0f%%" : "%.1f%%", percent);
  return kj::str(buffer);
}

bool isTerminal(kj::StringPtr state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

void writeTaskJson(JsonWriter& json, rpc::TaskView::Reader task, bool withEnv,
                   kj::Maybe<uint64_t> lastSeq, Attempts attempts) {
  json.beginObject();
  json.key("id");
  json.unsignedInteger(task.getId());
  json.key("uid");
  json.unsignedInteger(task.getUid());
  json.key("gid");
  json.unsignedInteger(task.getGid());
  json.key("state");
  json.string(task.getState());
  json.key("reason");
  textOrNull(json, task.getReason());
  json.key("message");
  textOrNull(json, task.getMessage());
  json.key("exit_status");
  if (isTerminal(task.getState())) {
    json.integer(task.getExitStatus());
  } else {
    json.null();
  }
  json.key("exit_code");
  positiveOrNull(json, task.getExitCode(), false);
  json.key("signal");
  positiveOrNull(json, task.getSignal(), true);
  json.key("queue");
  json.string(task.getQueue());
  json.key("priority");
  json.integer(task.getPriority());
  json.key("argv");
  json.beginArray();
  for (auto arg : task.getArgv()) json.string(arg);
  json.endArray();
  json.key("cwd");
  json.string(task.getCwd());
  if (withEnv) {
    json.key("env");
    json.beginArray();
    for (auto entry : task.getEnv()) json.string(entry);
    json.endArray();
  }
  json.key("labels");
  json.beginObject();
  bool undecodableKeys = false;
  for (auto label : task.getLabels()) {
    if (!isUtf8(label.getKey().asBytes())) {
      undecodableKeys = true;
      continue;
    }
    json.key(label.getKey());
    json.string(label.getValue().asBytes());
  }
  json.endObject();
  if (undecodableKeys) {
    // A JSON key can only be a string: labels whose key is not UTF-8 come here instead, each key
    // an array of its bytes, so that nothing is lost or mangled.
    json.key("labels_undecodable");
    json.beginArray();
    for (auto label : task.getLabels()) {
      if (isUtf8(label.getKey().asBytes())) continue;
      json.beginObject();
      json.key("key");
      json.string(label.getKey().asBytes());
      json.key("value");
      json.string(label.getValue().asBytes());
      json.endObject();
    }
    json.endArray();
  }
  json.key("created_at");
  timeOrNull(json, task.getCreatedAt());
  json.key("finished_at");
  timeOrNull(json, task.getFinishedAt());
  json.key("limits");
  writeLimitsJson(json, task);
  json.key("after");
  json.beginArray();
  for (auto dependency : task.getAfter()) {
    json.beginObject();
    json.key("id");
    json.unsignedInteger(dependency.getId());
    json.key("condition");
    json.string(conditionName(dependency.getCondition()));
    json.endObject();
  }
  json.endArray();
  json.key("not_before");
  timeOrNull(json, task.getNotBefore());
  json.key("next_attempt_at");
  timeOrNull(json, task.getNextAttemptAt());
  json.key("retry");
  writeRetryJson(json, task.getRetry());
  json.key("key");
  textOrNull(json, task.getKey());
  json.key("request_id");
  textOrNull(json, task.getRequestId());
  json.key("waiting_for");
  textOrNull(json, task.getWaitingFor());
  json.key("why");
  textOrNull(json, task.getWaitingFor());
  json.key("held");
  json.boolean(task.getHeld());
  json.key("rerun_of");
  limitOrNull(json, task.getRerunOf());
  json.key("edited_at");
  timeOrNull(json, task.getEditedAt());
  // `update`: when and by whom the limits were last changed (null: never).
  json.key("limits_updated_at");
  timeOrNull(json, task.getLimitsUpdatedAt());
  json.key("limits_updated_by");
  if (task.getLimitsUpdatedAt() != 0) {
    json.unsignedInteger(task.getLimitsUpdatedBy());
  } else {
    json.null();
  }
  json.key("paused_usec");
  json.unsignedInteger(task.getPausedUsec());
  json.key("paused_at");
  timeOrNull(json, task.getPausedAt());
  json.key("pruned");
  json.boolean(task.getPruned());
  // A pruned task's tombstone keeps no attempts: none is shown rather than an empty list.
  if (attempts == Attempts::SHOWN && !task.getPruned()) {
    json.key("attempts");
    json.beginArray();
    for (auto attempt : task.getAttempts()) writeAttemptJson(json, attempt);
    json.endArray();
  }
  KJ_IF_MAYBE (seq, lastSeq) {
    json.key("last_seq");
    json.unsignedInteger(*seq);
  }
  json.endObject();
}

kj::String taskJson(rpc::TaskView::Reader task, bool withEnv, kj::Maybe<uint64_t> lastSeq) {
  JsonWriter json;
  writeTaskJson(json, task, withEnv, lastSeq);
  return kj::str(json.finish(), '\n');
}

kj::String tasksJson(kj::ArrayPtr<const rpc::TaskView::Reader> tasks, kj::Maybe<uint64_t> lastSeq,
                     Attempts attempts) {
  JsonWriter json;
  json.beginArray();
  for (auto task : tasks) writeTaskJson(json, task, false, lastSeq, attempts);
  json.endArray();
  return kj::str(json.finish(), '\n');
}

kj::String TasksJsonStream::page(kj::ArrayPtr<const rpc::TaskView::Reader> tasks,
                                 kj::Maybe<uint64_t> lastSeq) {
  kj::Vector<char> out;
  if (!begun) out.add('[');
  begun = true;
  for (auto task : tasks) {
    if (any) out.add(',');
    any = true;
    JsonWriter json;
    // The daemon's list carries no attempts: an empty array would say the task never ran.
    writeTaskJson(json, task, false, lastSeq, Attempts::LEFT_OUT);
    out.addAll(json.finish());
  }
  return finishString(out);
}

kj::String TasksJsonStream::end() { return kj::str(begun ? "" : "[", "]\n"); }

kj::String commandLine(capnp::List<capnp::Data>::Reader argv) {
  kj::Vector<kj::String> words(argv.size());
  for (auto arg : argv) words.add(shellQuote(arg));
  return kj::strArray(words, " ");
}

kj::String statusText(rpc::TaskView::Reader task, bool withEnv) {
  if (task.getPruned()) return prunedText(task);
  Fields fields;
  fields.add("id", kj::str(task.getId()));
  fields.add("state", stateWithReason(task.getState(), task.getReason()));
  if (task.getWaitingFor().size() > 0) fields.add("why", printable(task.getWaitingFor()));
  if (task.getState() == "retrying" && task.getNextAttemptAt() != 0) {
    fields.add("next attempt", localTime(task.getNextAttemptAt()));
  }
  if (task.getPausedAt() != 0) {
    fields.add("paused", kj::str("since ", localTime(task.getPausedAt()), " (taskctl resume ",
                                 task.getId(), ")"));
  }
  if (task.getPausedUsec() != 0) {
    // Its timeout counts only the rest.
    fields.add("paused for", formatDurationUsec(task.getPausedUsec()));
  }
  if (task.getMessage().size() > 0) fields.add("message", printable(task.getMessage()));
  if (isTerminal(task.getState())) fields.add("exit status", kj::str(task.getExitStatus()));
  fields.add("command", commandLine(task.getArgv()));
  fields.add("cwd", shellQuote(task.getCwd()));
  fields.add("queue", printable(task.getQueue()));
  fields.add("priority", kj::str(task.getPriority()));
  fields.add("owner", kj::str("uid ", task.getUid(), ", gid ", task.getGid()));
  auto limits = limitsLine(task);
  if (limits.size() > 0) fields.add("limits", kj::mv(limits));
  if (task.getLimitsUpdatedAt() != 0) {
    fields.add("limits updated", kj::str(localTime(task.getLimitsUpdatedAt()), " by uid ",
                                         task.getLimitsUpdatedBy()));
  }
  if (task.getLabels().size() > 0) {
    kj::Vector<kj::String> labels;
    for (auto label : task.getLabels()) {
      labels.add(kj::str(printable(label.getKey()), '=', printable(label.getValue())));
    }
    fields.add("labels", kj::strArray(labels, ", "));
  }
  if (task.getAfter().size() > 0) fields.add("after", dependenciesLine(task.getAfter()));
  if (task.getNotBefore() != 0) fields.add("not before", localTime(task.getNotBefore()));
  auto retry = retryLine(task.getRetry());
  if (retry.size() > 0) fields.add("retry", kj::mv(retry));
  if (task.getKey().size() > 0) fields.add("key", printable(task.getKey()));
  if (task.getRequestId().size() > 0) fields.add("request id", printable(task.getRequestId()));
  if (task.getRerunOf() != 0) fields.add("rerun of", kj::str("task ", task.getRerunOf()));
  if (task.getCreatedAt() != 0) fields.add("created", localTime(task.getCreatedAt()));
  if (task.getEditedAt() != 0) fields.add("edited", localTime(task.getEditedAt()));
  if (task.getFinishedAt() != 0) fields.add("finished", localTime(task.getFinishedAt()));
  if (withEnv) fields.add("environment", kj::str(task.getEnv().size(), " variables"));
  fields.add("attempts", kj::str(task.getAttempts().size()));

  kj::Vector<char> out(1024);
  fields.appendTo(out, 0);
  if (withEnv) {
    out.addAll("environment:\n"_kj);
    for (auto entry : task.getEnv()) {
      out.addAll("  "_kj);
      out.addAll(printable(entry));
      out.add('\n');
    }
  }
  for (auto attempt : task.getAttempts()) appendAttempt(out, attempt);
  auto attempts = task.getAttempts();
  if (attempts.size() > 0) {
    auto last = attempts[attempts.size() - 1];
    appendOutputTail(out, last.getNumber(), last.getOutputTail(), OUTPUT_TAIL_LINES);
  }
  return finishString(out);
}

kj::String listTable(kj::ArrayPtr<const rpc::TaskView::Reader> tasks, kj::Maybe<size_t> width) {
  ListTable table(width);
  for (auto task : tasks) table.add(task);
  kj::Vector<char> out;
  table.write([&](kj::ArrayPtr<const char> piece) { out.addAll(piece); });
  return finishString(out);
}

ListTable::ListTable(kj::Maybe<size_t> width) : width(width) {
  kj::StringPtr header[COLUMNS] = {"ID", "STATE", "QUEUE", "PRI", "EXIT", "COMMAND"};
  addRow(header);
}

void ListTable::add(rpc::TaskView::Reader task) {
  auto id = kj::str(task.getId());
  auto state = printable(task.getState());
  auto queue = printable(task.getQueue());
  auto priority = kj::str(task.getPriority());
  auto exit = isTerminal(task.getState()) ? kj::str(task.getExitStatus()) : kj::str("-");
  auto command = commandLine(task.getArgv());
  KJ_IF_MAYBE (w, width) {
    // write() cuts the command to what is left of the width, which is at most the width (or
    // 10): cutting to that now keeps what write() prints the same and the row small.
    command = truncateToWidth(command, kj::max(*w, size_t(10)));
  }
  kj::StringPtr fields[COLUMNS] = {id, state, queue, priority, exit, command};
  addRow(fields);
}

void ListTable::addRow(kj::StringPtr (&fields)[COLUMNS]) {
  Row row;
  row.start = text.size();
  for (size_t i = 0; i < COLUMNS; i++) {
    row.lengths[i] = fields[i].size();
    text.addAll(fields[i]);
    text.add('\0');  // so that write() can point at it with a kj::StringPtr
    if (i < COMMAND) widths[i] = kj::max(widths[i], displayWidth(fields[i]));
  }
  rows.add(row);
}

void ListTable::write(kj::FunctionParam<void(kj::ArrayPtr<const char>)> out) const {
  // Numbers right-aligned, words left-aligned, two spaces between columns.
  constexpr bool RIGHT[COMMAND] = {true, false, false, true, true};
  size_t commandColumn = 5 * 2;
  for (auto w : widths) commandColumn += w;
  kj::Vector<char> buffer(64 * 1024);
  for (auto& row : rows) {
    size_t at = row.start;
    kj::StringPtr fields[COLUMNS];
    for (size_t i = 0; i < COLUMNS; i++) {
      fields[i] = kj::StringPtr(text.begin() + at, row.lengths[i]);
      at += row.lengths[i] + 1;
    }
    for (size_t i = 0; i < COMMAND; i++) {
      auto padding = kj::repeat(' ', widths[i] - displayWidth(fields[i]));
      if (RIGHT[i]) buffer.addAll(padding);
      buffer.addAll(fields[i]);
      if (!RIGHT[i]) buffer.addAll(padding);
      buffer.addAll("  "_kj);
    }
    KJ_IF_MAYBE (w, width) {
      // However narrow the terminal, show the start of the command.
      size_t room = *w > commandColumn + 10 ? *w - commandColumn : 10;
      buffer.addAll(truncateToWidth(fields[COMMAND], room));
    } else {
      buffer.addAll(fields[COMMAND]);
    }
    buffer.add('\n');
    if (buffer.size() >= 64 * 1024) {
      out(buffer);
      buffer.clear();
    }
  }
  if (buffer.size() > 0) out(buffer);
}

}  // namespace taskctl
