#include "slurm-runner.h"

#include <capnp/message.h>
#include <grp.h>
#include <kj/debug.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/units.h"
#include "runner/shim-launcher.h"
#include "runner/slurm/slurm-files.h"

namespace taskctl {

namespace {

constexpr uint64_t SECOND_USEC = 1000000;
// A Slurm command that takes longer than this is treated as unanswered
// (slurmctld's own message timeout is 10 s by default).
constexpr uint64_t COMMAND_TIMEOUT_USEC = 60 * SECOND_USEC;
constexpr uint64_t MAX_BACKOFF_USEC = 60 * SECOND_USEC;
// A job squeue no longer lists (slurmctld forgot it, MinJobAge) and whose
// result is not on the shared directory after this many answered queries in
// a row is gone: lost.
constexpr uint32_t MISSES_BEFORE_LOST = 3;

// What Slurm's words mean for taskctl: the text a person reads, with the
// job and node, so `status` explains an end taskctl did not decide.
kj::String describe(uint64_t jobId, const SlurmJobStatus& status) {
  return kj::str("Slurm job ", jobId, " ended ", status.stateWord,
                 status.node.size() ? kj::str(" on ", status.node) : kj::str(),
                 status.reason.size() && status.reason != "None" ? kj::str(" (", status.reason, ")")
                                                                 : kj::str());
}

// Slurm's message as one line's worth: no trailing newline.
kj::String trimmed(kj::StringPtr text) {
  size_t n = text.size();
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) n--;
  return kj::heapString(text.begin(), n);
}

}  // namespace

// ---- One attempt's job ----

class SlurmJob final : public Execution {
 public:
  SlurmJob(SlurmRunner& runner, uint64_t jobId, kj::StringPtr sharedDir, uint64_t taskId,
           uint32_t attempt)
      : runner(runner),
        jobId(jobId),
        sharedDir(kj::str(sharedDir)),
        taskId(taskId),
        attempt(attempt),
        exitPaf(kj::newPromiseAndFulfiller<void>()),
        exitForked(exitPaf.promise.fork()),
        nodePaf(kj::newPromiseAndFulfiller<kj::String>()) {
    runner.live[jobId] = this;
    runner.watchLive();
  }
  ~SlurmJob() noexcept(false) {
    auto it = runner.live.find(jobId);
    if (it != runner.live.end() && it->second == this) runner.live.erase(it);
  }

  int pid() const override { return 0; }
  uint64_t startTime() const override { return 0; }
  kj::StringPtr bootId() const override { return ""; }
  uint64_t slurmJobId() const override { return jobId; }
  void go() override { runner.go(jobId); }
  kj::Promise<void> exited() override { return exitForked.addBranch(); }
  void kill(int signal) override {
    stoppedByUs = true;
    runner.signal(jobId, signal);
  }
  kj::Promise<void> pause(bool paused) override {
    if (ended) return KJ_EXCEPTION(FAILED, "its Slurm job has ended");
    return runner
        .runAsDaemon(paused ? scontrolSuspendArgv(runner.settings.binDir, kj::arrayPtr(&jobId, 1))
                            : scontrolResumeArgv(runner.settings.binDir, kj::arrayPtr(&jobId, 1)))
        .then([this, paused](ChildResult result) {
          // Either again changes nothing (runner.h): Slurm says so in words.
          if (result.status != 0 &&
              strstr(result.err.cStr(), paused ? "already suspended" : "not suspended") ==
                  nullptr) {
            KJ_FAIL_REQUIRE(kj::str("Slurm refused to ", paused ? "suspend" : "resume", " job ",
                                    jobId, ": ", trimmed(result.err)));
          }
        });
  }
  kj::Promise<kj::String> node() override {
    KJ_IF_MAYBE (p, nodePromise) {
      auto promise = kj::mv(*p);
      nodePromise = nullptr;
      return kj::mv(promise);
    }
    return kj::NEVER_DONE;
  }
  kj::Maybe<ExternalEnd> externalEnd() override { return kj::mv(external); }
  kj::StringPtr lastNode() override { return seenNode; }

  // From the runner's query.
  void seen(const SlurmJobStatus& status) {
    misses = 0;
    auto what = classify(status.state);
    // A pending job's node list is empty (or its request): a node is known
    // once the job runs or has run there.
    if (status.node.size() > 0 && status.state != SlurmJobState::PENDING) {
      seenNode = kj::str(status.node);
      if (!nodeSent) {
        nodeSent = true;
        nodePaf.fulfiller->fulfill(kj::str(status.node));
      }
    }
    switch (what) {
      case SlurmEnd::LIVE:
        // COMPLETING: the command has ended; the result may already be here.
        if (status.state == SlurmJobState::COMPLETING && hasResult()) end(nullptr);
        return;
      case SlurmEnd::EXITED:
        if (hasResult()) {
          end(nullptr);
        } else {
          // The batch script ended without a result from taskctl-exec: it
          // never ran (not installed on the node?) or was killed.
          end(ExternalEnd{
              ExternalEnd::Kind::LOST,
              kj::str(describe(jobId, status), " without a result from taskctl-exec (see ",
                      slurmRunDir(sharedDir, taskId, attempt), "/slurm.out)")});
        }
        return;
      case SlurmEnd::OOM:
        end(ExternalEnd{ExternalEnd::Kind::OOM, describe(jobId, status)});
        return;
      case SlurmEnd::TIMEOUT:
        end(ExternalEnd{ExternalEnd::Kind::TIMEOUT, kj::str(describe(jobId, status),
                                                            ": Slurm's time limit (the backstop "
                                                            "past --timeout and its grace)")});
        return;
      case SlurmEnd::CANCELLED:
        if (stoppedByUs) {
          end(nullptr);
        } else {
          end(ExternalEnd{
              ExternalEnd::Kind::CANCELLED_ELSEWHERE,
              kj::str(describe(jobId, status), ", cancelled in Slurm, not by taskctl")});
        }
        return;
      case SlurmEnd::LOST:
        end(ExternalEnd{ExternalEnd::Kind::LOST, describe(jobId, status)});
        return;
      case SlurmEnd::PREEMPTED:
        end(ExternalEnd{ExternalEnd::Kind::PREEMPTED,
                        kj::str(describe(jobId, status), "; run again as a new attempt")});
        return;
      case SlurmEnd::REQUEUED:
        // Someone requeued it in Slurm despite --no-requeue: it must not run
        // a second time beside taskctl's own retry (DESIGN 9).
        runner.signal(jobId, SIGKILL);
        end(ExternalEnd{ExternalEnd::Kind::LOST,
                        kj::str(describe(jobId, status), ": requeued in Slurm, cancelled")});
        return;
    }
  }

  // The job is not in squeue's answer (any more).
  void missing() {
    if (hasResult()) {
      end(nullptr);
    } else if (++misses >= MISSES_BEFORE_LOST) {
      end(ExternalEnd{ExternalEnd::Kind::LOST,
                      kj::str("Slurm job ", jobId, " vanished from Slurm without a result")});
    }
  }

  bool isEnded() const { return ended; }

 private:
  SlurmRunner& runner;
  uint64_t jobId;
  kj::String sharedDir;
  uint64_t taskId;
  uint32_t attempt;
  kj::PromiseFulfillerPair<void> exitPaf;
  kj::ForkedPromise<void> exitForked;
  kj::PromiseFulfillerPair<kj::String> nodePaf;
  kj::Maybe<kj::Promise<kj::String>> nodePromise = kj::mv(nodePaf.promise);
  kj::Maybe<ExternalEnd> external;
  kj::String seenNode = kj::str();
  bool stoppedByUs = false;
  bool nodeSent = false;
  bool ended = false;
  uint32_t misses = 0;

  bool hasResult() {
    return access(kj::str(slurmRunDir(sharedDir, taskId, attempt), "/result").cStr(), F_OK) == 0;
  }
  void end(kj::Maybe<ExternalEnd> why) {
    if (ended) return;
    ended = true;
    external = kj::mv(why);
    runner.live.erase(jobId);
    exitPaf.fulfiller->fulfill();
  }
};

// ---- The runner ----

SlurmRunner::SlurmRunner(kj::UnixEventPort& port, kj::Timer& timer, ShimLauncher& shims,
                         kj::StringPtr queue, const SlurmQueueConfig& config)
    : port(port),
      timer(timer),
      shims(shims),
      queue(kj::str(queue)),
      settings(cloneSlurmQueueConfig(config)),
      tasks(errorHandler) {}

SlurmRunner::~SlurmRunner() noexcept(false) {}

void SlurmRunner::ErrorHandler::taskFailed(kj::Exception&& exception) {
  KJ_LOG(ERROR, "slurm runner", exception);
}

kj::Promise<ChildResult> SlurmRunner::run(kj::Array<kj::String> argv, ChildOptions options) {
  options.timeoutUsec = COMMAND_TIMEOUT_USEC;
  // A command killed for taking too long, like one that could not start,
  // is an unanswered one: a result that says so, never a rejection that
  // would end the query loop.
  auto promise = runChild(port, timer, argv, kj::mv(options));
  return promise.attach(kj::mv(argv)).catch_([](kj::Exception&& e) {
    return ChildResult{124, kj::str(), kj::str(e.getDescription())};
  });
}

kj::Promise<ChildResult> SlurmRunner::runAsDaemon(kj::Array<kj::String> argv) {
  return run(kj::mv(argv), ChildOptions());
}

void SlurmRunner::prepare(records::Task::Reader, records::Attempt::Builder attempt) {
  attempt.setUnit("");
  attempt.setSharedDir(settings.sharedDir);
}

kj::Promise<kj::Own<Execution>> SlurmRunner::start(records::Task::Reader task,
                                                   records::Attempt::Reader attempt) {
  uint64_t id = task.getId();
  uint32_t number = attempt.getNumber();
  auto shared =
      kj::str(attempt.getSharedDir().size() ? attempt.getSharedDir() : settings.sharedDir.asPtr());
  bool root = geteuid() == 0;

  // The spec as the direct runner's shim gets it, pointed at the shared
  // directory. The shim runs as the owner already (the job is theirs), so it
  // drops nothing.
  capnp::MallocMessageBuilder message;
  auto spec = message.initRoot<records::ExecSpec>();
  shims.fillSpec(task, attempt, spec);
  auto runDir = slurmRunDir(shared, id, number);
  spec.setLogPath(slurmLogPath(shared, id, number));
  spec.setResultPath(kj::str(runDir, "/result"));
  spec.setDropPrivileges(false);
  auto script = kj::str("#!/bin/sh\n# taskctl task ", id, " attempt ", number, "\nexec '",
                        shims.shim(), "' --spec-file '", runDir, "/spec'\n");
  prepareSlurmRun(shared, spec.asReader(), script, root);

  SlurmJobRequest request;
  request.taskId = id;
  request.attempt = number;
  auto cwd =
      kj::heapString(reinterpret_cast<const char*>(task.getCwd().begin()), task.getCwd().size());
  request.cwd = cwd;
  request.memoryMaxBytes = attemptMemoryMaxBytes(task, attempt);
  request.cpuQuotaPerSecUsec = task.getLimits().getCpuQuotaPerSecUsec();
  request.timeoutUsec = attemptTimeoutUsec(task, attempt);
  request.killGraceUsec = task.getLimits().getKillGraceUsec();
  if (request.killGraceUsec == 0) request.killGraceUsec = 10 * SECOND_USEC;  // as task-spec-check
  auto scriptPath = kj::str(runDir, "/job");
  auto outputPath = kj::str(runDir, "/slurm.out");
  request.scriptPath = scriptPath;
  request.outputPath = outputPath;

  ChildOptions options;
  if (root) {
    // sbatch as the owner: munge signs the request as theirs, so the job is
    // theirs in Slurm (accounting, fair share, limits, squeue).
    options.uid = task.getUid();
    options.gid = task.getGid();
    options.groups = kj::heapArray<gid_t>(task.getGroups().size());
    for (auto i : kj::indices(options.groups)) options.groups[i] = task.getGroups()[i];
  }
  auto argv = sbatchArgv(settings, request);
  return run(kj::mv(argv), kj::mv(options))
      .then([this, id, number,
             shared = kj::mv(shared)](ChildResult result) mutable -> kj::Own<Execution> {
        KJ_IF_MAYBE (jobId, parseSbatchParsable(result.out)) {
          if (result.status == 0) {
            reachableAgain();
            return kj::heap<SlurmJob>(*this, *jobId, shared, id, number);
          }
        }
        auto why = trimmed(result.err.size() ? result.err : result.out);
        if (isUnreachableError(why)) {
          // Not a refusal: no job exists, nothing ran. The scheduler puts the
          // attempt back in the queue; dispatch waits for Slurm.
          unreachable(why);
          kj::throwFatalException(KJ_EXCEPTION(DISCONNECTED, "Slurm is unreachable", why));
        }
        KJ_FAIL_REQUIRE(kj::str("sbatch refused the job (queue ", queue, "): ", why));
      });
}

kj::Maybe<kj::Own<Execution>> SlurmRunner::adopt(records::Attempt::Reader attempt) {
  uint64_t jobId = attempt.getSlurmJobId();
  if (jobId == 0) return nullptr;
  auto job = kj::heap<SlurmJob>(*this, jobId, attempt.getSharedDir(), attempt.getTaskId(),
                                attempt.getNumber());
  // `running` was durable, so the job may run: if the old daemon died before
  // it released the job, this does (releasing a released job changes nothing).
  go(jobId);
  return kj::Own<Execution>(kj::mv(job));
}

kj::Maybe<kj::Own<ExecOutcome>> SlurmRunner::readOutcome(uint64_t taskId, uint32_t attempt) {
  return readSlurmOutcome(settings.sharedDir, taskId, attempt);
}

void SlurmRunner::stopRemains(records::Attempt::Reader attempt) {
  // A lost attempt's job (should Slurm still run it) or, for an attempt that
  // never stored its job id, any job by its name: such a job was submitted
  // held and never released, so no user code of it ran.
  kj::Array<kj::String> argv =
      attempt.getSlurmJobId()
          ? scancelArgv(settings.binDir, attempt.getSlurmJobId(), SIGKILL)
          : scancelPendingByNameArgv(settings.binDir,
                                     slurmJobName(attempt.getTaskId(), attempt.getNumber()));
  tasks.add(runAsDaemon(kj::mv(argv)).then([](ChildResult result) {
    if (result.status != 0) KJ_LOG(WARNING, "scancel of a lost attempt's job", result.err);
  }));
}

void SlurmRunner::release(uint64_t taskId, uint32_t attempt) {
  removeSlurmRun(settings.sharedDir, taskId, attempt);
}

kj::String SlurmRunner::logPath(uint64_t taskId, uint32_t attempt) {
  return slurmLogPath(settings.sharedDir, taskId, attempt);
}

kj::Promise<void> SlurmRunner::whenAvailable() {
  if (reachable) return kj::READY_NOW;
  auto paf = kj::newPromiseAndFulfiller<void>();
  availabilityWaiters.add(kj::mv(paf.fulfiller));
  watchLive();  // keeps asking while unreachable, even with no job live
  return kj::mv(paf.promise);
}

kj::Promise<void> SlurmRunner::check() {
  auto sbatch = kj::str(settings.binDir, "/sbatch");
  if (access(sbatch.cStr(), X_OK) != 0) {
    return KJ_EXCEPTION(FAILED, kj::str("queue ", queue, ": runner = \"slurm\" needs ", sbatch,
                                        ", which is not there (install slurm-client, or set "
                                        "bin_dir)"));
  }
  return runAsDaemon(scontrolShowPartitionArgv(settings.binDir, settings.partition))
      .then([this](ChildResult result) {
        if (result.status == 0) return;
        auto why = trimmed(result.err.size() ? result.err : result.out);
        KJ_FAIL_REQUIRE(kj::str("queue ", queue, ": Slurm ",
                                settings.partition.size()
                                    ? kj::str("does not know partition ", settings.partition)
                                    : kj::str("has no default partition"),
                                " or is unreachable (munge or slurmctld down, or the unit's "
                                "IPAddressDeny= in the way: docs/slurm.md): ",
                                why));
      });
}

// ---- Go, stop: batched per loop turn where Slurm takes a list ----

void SlurmRunner::go(uint64_t jobId) {
  toRelease.insert(jobId);
  if (releaseScheduled) return;
  releaseScheduled = true;
  tasks.add(kj::evalLater([this]() { flushReleases(); }));
}

void SlurmRunner::flushReleases() {
  releaseScheduled = false;
  if (toRelease.empty()) return;
  kj::Vector<uint64_t> ids;
  for (auto id : toRelease) ids.add(id);
  toRelease.clear();
  tasks.add(runAsDaemon(scontrolReleaseArgv(settings.binDir, ids))
                .then([this, ids = kj::mv(ids)](ChildResult result) mutable {
                  if (result.status == 0) return;
                  if (isUnreachableError(result.err)) {
                    // Released once Slurm answers again: the jobs wait held.
                    unreachable(result.err);
                    for (auto id : ids) {
                      if (live.count(id)) toRelease.insert(id);
                    }
                    return;
                  }
                  // A job released already (re-adoption) or gone: the query
                  // tells what became of it.
                  KJ_LOG(INFO, "scontrol release", result.err);
                }));
}

void SlurmRunner::signal(uint64_t jobId, int signal) {
  tasks.add(runAsDaemon(scancelArgv(settings.binDir, jobId, signal))
                .then([jobId, signal](ChildResult result) {
                  if (result.status != 0) {
                    KJ_LOG(WARNING, "scancel failed", jobId, signal, result.err);
                  }
                }));
}

// ---- Watching: one query for all live jobs, only while any is ----

void SlurmRunner::watchLive() {
  if (queryScheduled) return;
  if (live.empty() && reachable) return;
  queryScheduled = true;
  uint64_t delay = backoffUsec ? backoffUsec : settings.queryIntervalUsec;
  tasks.add(timer.afterDelay(delay * kj::MICROSECONDS).then([this]() {
    return queryOnce().then([this]() {
      queryScheduled = false;
      watchLive();
    });
  }));
}

kj::Promise<void> SlurmRunner::queryOnce() {
  if (live.empty()) {
    // Unreachable with nothing live: ask whether Slurm answers again.
    return runAsDaemon(scontrolShowPartitionArgv(settings.binDir, settings.partition))
        .then([this](ChildResult result) {
          if (result.status == 0 || !isUnreachableError(result.err)) {
            reachableAgain();
          } else {
            unreachable(result.err);
          }
        });
  }
  kj::Vector<uint64_t> asked;
  for (auto& entry : live) asked.add(entry.first);
  return runAsDaemon(squeueArgv(settings.binDir, asked))
      .then([this, asked = kj::mv(asked)](ChildResult result) mutable {
        if (result.status != 0 && !isInvalidJobIdError(result.err)) {
          // Jobs stay as they are: an unanswered query says nothing of them.
          unreachable(result.err);
          return;
        }
        reachableAgain();
        // squeue fails when it knows none of the jobs asked for: then every
        // one of them is missing from the answer.
        auto seen = result.status == 0 ? parseSqueue(result.out) : kj::Vector<SlurmJobStatus>();
        apply(asked, seen);
      });
}

void SlurmRunner::apply(kj::ArrayPtr<const uint64_t> asked,
                        kj::ArrayPtr<const SlurmJobStatus> seen) {
  std::map<uint64_t, const SlurmJobStatus*> byId;
  for (auto& status : seen) byId[status.jobId] = &status;
  for (auto id : asked) {
    auto it = live.find(id);
    if (it == live.end()) continue;  // ended or dropped since the query began
    SlurmJob* job = it->second;
    auto found = byId.find(id);
    if (found == byId.end()) {
      job->missing();
    } else {
      job->seen(*found->second);
    }
  }
}

void SlurmRunner::unreachable(kj::StringPtr what) {
  if (reachable) KJ_LOG(WARNING, "Slurm does not answer; retrying with backoff", queue, what);
  reachable = false;
  backoffUsec = kj::min(MAX_BACKOFF_USEC, kj::max(backoffUsec * 2, settings.queryIntervalUsec));
}

void SlurmRunner::reachableAgain() {
  backoffUsec = 0;
  if (reachable) return;
  KJ_LOG(INFO, "Slurm answers again", queue);
  reachable = true;
  for (auto& waiter : availabilityWaiters) waiter->fulfill();
  availabilityWaiters.clear();
  if (!toRelease.empty()) {
    releaseScheduled = true;
    tasks.add(kj::evalLater([this]() { flushReleases(); }));
  }
}

}  // namespace taskctl
