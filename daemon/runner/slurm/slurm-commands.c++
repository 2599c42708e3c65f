#include "runner/slurm/slurm-commands.h"

#include <kj/debug.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

namespace taskctl {
namespace {

kj::String bin(kj::StringPtr binDir, kj::StringPtr name) {
  return binDir.endsWith("/") ? kj::str(binDir, name) : kj::str(binDir, "/", name);
}

kj::String idList(kj::ArrayPtr<const uint64_t> ids) { return kj::strArray(ids, ","); }

// sbatch expands %j, %u, %x, ... in --output and --error ("filename
// pattern"); "%%" is a literal '%'. A path is a path: escape them all.
kj::String escapePattern(kj::StringPtr path) {
  kj::Vector<char> out(path.size() + 1);
  for (char c : path) {
    out.add(c);
    if (c == '%') out.add('%');
  }
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

kj::Maybe<uint64_t> parseId(kj::StringPtr text) {
  if (text.size() == 0 || text.size() > 19) return nullptr;
  uint64_t id = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return nullptr;
    id = id * 10 + (c - '0');
  }
  if (id == 0) return nullptr;  // Slurm never gives job id 0
  return id;
}

kj::Maybe<int64_t> parseInt(kj::StringPtr text) {
  bool negative = text.startsWith("-");
  auto digits = negative ? text.slice(1) : text;
  if (digits.size() == 0 || digits.size() > 10) return nullptr;
  int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return nullptr;
    value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

// Lines of `text`, without their '\n' (and a '\r' a wrapper may add).
kj::Vector<kj::String> lines(kj::StringPtr text) {
  kj::Vector<kj::String> out;
  const char* p = text.begin();
  while (p < text.end()) {
    const char* end = p;
    while (end < text.end() && *end != '\n') ++end;
    const char* stop = end;
    if (stop > p && stop[-1] == '\r') --stop;
    out.add(kj::heapString(p, stop - p));
    p = end + 1;
  }
  return out;
}

kj::String trim(kj::StringPtr text) {
  const char* b = text.begin();
  const char* e = text.end();
  while (b < e && (*b == ' ' || *b == '\t')) ++b;
  while (e > b && (e[-1] == ' ' || e[-1] == '\t')) --e;
  return kj::heapString(b, e - b);
}

// "(null)" is how Slurm prints an unset string.
kj::String orEmpty(kj::StringPtr text) { return text == "(null)" ? kj::str() : kj::str(text); }

const struct {
  const char* word;
  SlurmJobState state;
} STATES[] = {
    {"PENDING", SlurmJobState::PENDING},
    {"CONFIGURING", SlurmJobState::CONFIGURING},
    {"RUNNING", SlurmJobState::RUNNING},
    {"SUSPENDED", SlurmJobState::SUSPENDED},
    {"COMPLETING", SlurmJobState::COMPLETING},
    {"COMPLETED", SlurmJobState::COMPLETED},
    {"FAILED", SlurmJobState::FAILED},
    {"OUT_OF_MEMORY", SlurmJobState::OUT_OF_MEMORY},
    {"TIMEOUT", SlurmJobState::TIMEOUT},
    {"DEADLINE", SlurmJobState::DEADLINE},
    {"CANCELLED", SlurmJobState::CANCELLED},
    {"NODE_FAIL", SlurmJobState::NODE_FAIL},
    {"BOOT_FAIL", SlurmJobState::BOOT_FAIL},
    {"PREEMPTED", SlurmJobState::PREEMPTED},
    {"REQUEUED", SlurmJobState::REQUEUED},
    {"REQUEUE_HOLD", SlurmJobState::REQUEUE_HOLD},
    {"REQUEUE_FED", SlurmJobState::REQUEUE_FED},
    {"SPECIAL_EXIT", SlurmJobState::SPECIAL_EXIT},
    {"RESV_DEL_HOLD", SlurmJobState::RESV_DEL_HOLD},
    {"STOPPED", SlurmJobState::STOPPED},
    {"SIGNALING", SlurmJobState::SIGNALING},
    {"STAGE_OUT", SlurmJobState::STAGE_OUT},
    {"RESIZING", SlurmJobState::RESIZING},
    {"REVOKED", SlurmJobState::REVOKED},
};

// The job's exit_code as squeue prints it: a raw wait status.
SlurmExit fromWaitStatus(int status) {
  SlurmExit exit;
  if (WIFSIGNALED(status)) {
    exit.signal = WTERMSIG(status);
  } else {
    exit.code = WEXITSTATUS(status);
  }
  return exit;
}

}  // namespace

uint64_t slurmTimeLimitMinutes(uint64_t timeoutUsec, uint64_t killGraceUsec) {
  const uint64_t minute = 60000000;
  return (timeoutUsec + killGraceUsec + minute - 1) / minute + 2;
}

kj::Array<kj::String> sbatchArgv(const SlurmQueueConfig& queue, const SlurmJobRequest& request) {
  kj::Vector<kj::String> argv;
  argv.add(bin(queue.binDir, "sbatch"));
  argv.add(kj::str("--parsable"));
  // Held until the job id is committed with the attempt: nothing runs that
  // the store does not know of (DESIGN 9's write order).
  argv.add(kj::str("--hold"));
  // A node failure must not run the script a second time: taskctl retries.
  argv.add(kj::str("--no-requeue"));
  argv.add(kj::str("--job-name=taskctl-", request.taskId, "-", request.attempt));
  auto output = escapePattern(request.outputPath);
  argv.add(kj::str("--output=", output));
  argv.add(kj::str("--error=", output));
  argv.add(kj::str("--chdir=", request.cwd));
  // The shim sets the task's own environment; the submitter's (the daemon's
  // child's minimal one) must not leak in. The script still runs: only
  // SLURM_* variables are set, so it must name programs by absolute path.
  argv.add(kj::str("--export=NONE"));
  if (queue.partition.size() > 0) argv.add(kj::str("--partition=", queue.partition));
  if (queue.account.size() > 0) argv.add(kj::str("--account=", queue.account));
  if (queue.qos.size() > 0) argv.add(kj::str("--qos=", queue.qos));
  if (request.memoryMaxBytes > 0) {
    argv.add(kj::str("--mem=", (request.memoryMaxBytes + (1 << 20) - 1) >> 20, "M"));
  }
  if (request.cpuQuotaPerSecUsec > 0) {
    uint64_t cpus = (request.cpuQuotaPerSecUsec + 999999) / 1000000;
    argv.add(kj::str("--cpus-per-task=", cpus < 1 ? 1 : cpus));
  }
  if (request.timeoutUsec > 0) {
    argv.add(kj::str("--time=", slurmTimeLimitMinutes(request.timeoutUsec, request.killGraceUsec)));
  }
  for (auto& option : queue.sbatchOptions) argv.add(kj::str(option));
  argv.add(kj::str(request.scriptPath));
  return argv.releaseAsArray();
}

kj::Maybe<uint64_t> parseSbatchParsable(kj::StringPtr out) {
  kj::Maybe<uint64_t> id;
  for (auto& line : lines(out)) {
    auto text = trim(line);
    if (text.size() == 0) continue;
    KJ_IF_MAYBE (semicolon, text.findFirst(';')) {
      id = parseId(kj::heapString(text.begin(), *semicolon));
    } else {
      id = parseId(text);
    }
  }
  return id;
}

SlurmJobState parseSlurmJobState(kj::StringPtr word) {
  for (auto& s : STATES) {
    if (word == s.word) return s.state;
  }
  return SlurmJobState::OTHER;
}

kj::Array<kj::String> squeueArgv(kj::StringPtr binDir, kj::ArrayPtr<const uint64_t> jobIds) {
  // --Format (not -o) because only it has exit_code. ":0" is "no width":
  // the field in full, never cut or padded; the suffix "|" separates.
  // Reason goes last: it may be an admin's free text, '|' and spaces
  // included (squeue prints it raw, scontrol with '_' for spaces).
  return kj::arr(bin(binDir, "squeue"), kj::str("--noheader"), kj::str("--states=all"),
                 kj::str("--jobs=", idList(jobIds)),
                 kj::str("--Format=JobID:0|,State:0|,NodeList:0|,exit_code:0|,Reason:0"));
}

kj::Vector<SlurmJobStatus> parseSqueue(kj::StringPtr out) {
  kj::Vector<SlurmJobStatus> statuses;
  for (auto& line : lines(out)) {
    // id|STATE|nodes|exit|reason: split at the first four bars only.
    kj::Vector<kj::String> fields;
    const char* p = line.begin();
    while (fields.size() < 4) {
      const char* bar = strchr(p, '|');
      if (bar == nullptr) break;
      fields.add(kj::heapString(p, bar - p));
      p = bar + 1;
    }
    if (fields.size() < 4) continue;
    fields.add(kj::str(p));
    KJ_IF_MAYBE (id, parseId(trim(fields[0]))) {
      auto word = trim(fields[1]);
      if (word.size() == 0) continue;
      SlurmJobStatus status;
      status.jobId = *id;
      status.state = parseSlurmJobState(word);
      status.stateWord = kj::mv(word);
      status.node = orEmpty(trim(fields[2]));
      KJ_IF_MAYBE (raw, parseInt(trim(fields[3]))) {
        if (*raw >= 0 && *raw <= 0xffff) status.exit = fromWaitStatus(static_cast<int>(*raw));
      }
      status.reason = trim(fields[4]);
      statuses.add(kj::mv(status));
    }
  }
  return statuses;
}

kj::Array<kj::String> scontrolShowJobArgv(kj::StringPtr binDir, uint64_t jobId) {
  return kj::arr(bin(binDir, "scontrol"), kj::str("--oneliner"), kj::str("show"), kj::str("job"),
                 kj::str(jobId));
}

kj::Maybe<SlurmJobStatus> parseScontrolShowJob(kj::StringPtr out) {
  for (auto& line : lines(out)) {
    // Space-separated Key=Value. Free text (Command=, WorkDir=, Comment=)
    // may hold spaces and '=', but every key read here comes before it,
    // so the first occurrence of each is Slurm's own.
    kj::Maybe<uint64_t> id;
    kj::Maybe<kj::String> state, reason, node;
    kj::Maybe<SlurmExit> exit;
    const char* p = line.begin();
    while (p < line.end()) {
      while (p < line.end() && *p == ' ') ++p;
      const char* end = p;
      while (end < line.end() && *end != ' ') ++end;
      auto token = kj::heapString(p, end - p);
      p = end;
      KJ_IF_MAYBE (eq, token.findFirst('=')) {
        auto key = kj::heapString(token.begin(), *eq);
        auto value = kj::str(token.slice(*eq + 1));
        if (key == "JobId" && id == nullptr) {
          id = parseId(value);
          if (id == nullptr) break;
        } else if (key == "JobState" && state == nullptr) {
          state = kj::mv(value);
        } else if (key == "Reason" && reason == nullptr) {
          reason = kj::mv(value);
        } else if (key == "NodeList" && node == nullptr) {
          node = orEmpty(value);
        } else if (key == "ExitCode" && exit == nullptr) {
          // "code:signal", both decimal.
          KJ_IF_MAYBE (colon, value.findFirst(':')) {
            auto code = parseInt(kj::heapString(value.begin(), *colon));
            auto signal = parseInt(value.slice(*colon + 1));
            KJ_IF_MAYBE (c, code) {
              KJ_IF_MAYBE (s, signal) {
                exit = SlurmExit{static_cast<int>(*c), static_cast<int>(*s)};
              }
            }
          }
        }
      }
    }
    KJ_IF_MAYBE (i, id) {
      KJ_IF_MAYBE (word, state) {
        SlurmJobStatus status;
        status.jobId = *i;
        status.state = parseSlurmJobState(*word);
        status.stateWord = kj::mv(*word);
        KJ_IF_MAYBE (n, node) status.node = kj::mv(*n);
        KJ_IF_MAYBE (r, reason) status.reason = kj::mv(*r);
        status.exit = exit;
        return kj::mv(status);
      }
    }
  }
  return nullptr;
}

bool isInvalidJobIdError(kj::StringPtr err) {
  // slurm_strerror(ESLURM_INVALID_JOB_ID), as squeue and scontrol print it
  // after "slurm_load_jobs error: ".
  return strstr(err.cStr(), "Invalid job id specified") != nullptr;
}

bool isUnreachableError(kj::StringPtr err) {
  for (kj::StringPtr sign : {"Unable to contact slurm controller", "Socket timed out",
                             "Connection refused", "Zero Bytes were transmitted",
                             "Munge encode failed", "munge", "Communication connection failure",
                             "Slurm backup controller in standby mode", "did not finish within"}) {
    if (strstr(err.cStr(), sign.cStr()) != nullptr) return true;
  }
  return false;
}

kj::Array<kj::String> scancelPendingByNameArgv(kj::StringPtr binDir, kj::StringPtr jobName) {
  return kj::arr(bin(binDir, "scancel"), kj::str("--state=PENDING"), kj::str("--name=", jobName));
}

kj::Array<kj::String> scontrolShowPartitionArgv(kj::StringPtr binDir, kj::StringPtr partition) {
  if (partition.size() == 0) {
    return kj::arr(bin(binDir, "scontrol"), kj::str("--oneliner"), kj::str("show"),
                   kj::str("partition"));
  }
  return kj::arr(bin(binDir, "scontrol"), kj::str("--oneliner"), kj::str("show"),
                 kj::str("partition"), kj::str(partition));
}

kj::Array<kj::String> scancelArgv(kj::StringPtr binDir, uint64_t jobId, int signal) {
  if (signal == SIGKILL) {
    // Ends the job itself (CANCELLED, allocation freed) after TERM and
    // grace already went to the shim. `--signal=KILL` takes the same path
    // in slurmctld 22.05; the plain form is the one documented to end the job.
    return kj::arr(bin(binDir, "scancel"), kj::str(jobId));
  }
  // --full: without it a signal other than KILL skips the batch step, and
  // the batch step is the shim.
  const char* name = sigabbrev_np(signal);
  KJ_REQUIRE(name != nullptr, "no such signal", signal);
  return kj::arr(bin(binDir, "scancel"), kj::str("--full"), kj::str("--signal=", name),
                 kj::str(jobId));
}

namespace {
kj::Array<kj::String> scontrolList(kj::StringPtr binDir, kj::StringPtr verb,
                                   kj::ArrayPtr<const uint64_t> ids) {
  KJ_REQUIRE(ids.size() > 0, "scontrol needs at least one job id", verb);
  return kj::arr(bin(binDir, "scontrol"), kj::str(verb), idList(ids));
}
}  // namespace

kj::Array<kj::String> scontrolReleaseArgv(kj::StringPtr binDir, kj::ArrayPtr<const uint64_t> ids) {
  return scontrolList(binDir, "release", ids);
}

kj::Array<kj::String> scontrolSuspendArgv(kj::StringPtr binDir, kj::ArrayPtr<const uint64_t> ids) {
  return scontrolList(binDir, "suspend", ids);
}

kj::Array<kj::String> scontrolResumeArgv(kj::StringPtr binDir, kj::ArrayPtr<const uint64_t> ids) {
  return scontrolList(binDir, "resume", ids);
}

SlurmEnd classify(SlurmJobState state) {
  switch (state) {
    case SlurmJobState::PENDING:
    case SlurmJobState::CONFIGURING:
    case SlurmJobState::RUNNING:
    case SlurmJobState::SUSPENDED:
    // COMPLETING hides the end state until the node is cleaned up: wait.
    case SlurmJobState::COMPLETING:
    case SlurmJobState::RESV_DEL_HOLD:
    case SlurmJobState::STOPPED:
    case SlurmJobState::SIGNALING:
    case SlurmJobState::STAGE_OUT:
    case SlurmJobState::RESIZING:
    case SlurmJobState::OTHER:
      return SlurmEnd::LIVE;
    case SlurmJobState::COMPLETED:
    case SlurmJobState::FAILED:
      return SlurmEnd::EXITED;
    case SlurmJobState::OUT_OF_MEMORY:
      return SlurmEnd::OOM;
    case SlurmJobState::TIMEOUT:
    case SlurmJobState::DEADLINE:
      return SlurmEnd::TIMEOUT;
    case SlurmJobState::CANCELLED:
      return SlurmEnd::CANCELLED;
    case SlurmJobState::NODE_FAIL:
    case SlurmJobState::BOOT_FAIL:
    case SlurmJobState::REVOKED:
      return SlurmEnd::LOST;
    case SlurmJobState::PREEMPTED:
      return SlurmEnd::PREEMPTED;
    case SlurmJobState::REQUEUED:
    case SlurmJobState::REQUEUE_HOLD:
    case SlurmJobState::REQUEUE_FED:
    case SlurmJobState::SPECIAL_EXIT:
      return SlurmEnd::REQUEUED;
  }
  return SlurmEnd::LIVE;
}

}  // namespace taskctl
