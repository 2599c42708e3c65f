// The runner of a queue whose `runner = "slurm"` (DESIGN 12, docs/slurm.md):
// each attempt is a batch job of an existing Slurm cluster that runs
// taskctl-exec as the task's owner, while the scheduler keeps everything
// else (ids, keys, dependencies, retries, events, logs) as on one host.
//
// The write order of DESIGN 9, with the job as the execution: the job is
// submitted held (`sbatch --hold`, as the owner), its id is committed with
// the attempt as `running`, and only then is it released (`scontrol
// release`, the job's "go"). A daemon that dies in between leaves a held job
// that never ran; recovery cancels it by its name.
//
// No call per task: Slurm is asked about all of the queue's live jobs at
// once (one `squeue`), every query_interval while any is live and never
// when none is. Every Slurm command runs as a child process (child-command.h):
// the loop never waits for slurmctld.
#pragma once

#include <kj/async-unix.h>
#include <kj/map.h>
#include <kj/timer.h>

#include <map>
#include <set>

#include "config/config.h"
#include "runner/runner.h"
#include "runner/slurm/child-command.h"
#include "runner/slurm/slurm-commands.h"

namespace taskctl {

class ShimLauncher;
class SlurmJob;

class SlurmRunner final : public Runner {
 public:
  SlurmRunner(kj::UnixEventPort& port, kj::Timer& timer, ShimLauncher& shims, kj::StringPtr queue,
              const SlurmQueueConfig& config);
  ~SlurmRunner() noexcept(false);

  kj::StringPtr name() const override { return "slurm"; }
  kj::String unitFor(uint64_t, uint32_t) override { return kj::str(); }
  void prepare(records::Task::Reader task, records::Attempt::Builder attempt) override;
  kj::Promise<kj::Own<Execution>> start(records::Task::Reader task,
                                        records::Attempt::Reader attempt) override;
  kj::Maybe<kj::Own<Execution>> adopt(records::Attempt::Reader attempt) override;
  kj::Maybe<kj::Own<ExecOutcome>> readOutcome(uint64_t taskId, uint32_t attempt) override;
  void stopRemains(records::Attempt::Reader attempt) override;
  void release(uint64_t taskId, uint32_t attempt) override;
  kj::String logPath(uint64_t taskId, uint32_t attempt) override;
  bool available() override { return reachable; }
  kj::Promise<void> whenAvailable() override;

  kj::Promise<void> check();
  // At start and reload: sbatch is there and the controller knows the
  // queue's partition. Rejects with a message that names the queue.

  const SlurmQueueConfig& config() const { return settings; }
  kj::StringPtr queueName() const { return queue; }
  kj::StringPtr sharedDir() const { return settings.sharedDir; }

 private:
  friend class SlurmJob;

  kj::UnixEventPort& port;
  kj::Timer& timer;
  ShimLauncher& shims;
  kj::String queue;
  SlurmQueueConfig settings;

  std::map<uint64_t, SlurmJob*> live;  // by job id; a SlurmJob removes itself
  std::set<uint64_t> toRelease;        // go() of this loop turn, released together
  bool releaseScheduled = false;
  bool queryScheduled = false;
  uint64_t backoffUsec = 0;  // while Slurm does not answer
  bool reachable = true;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> availabilityWaiters;
  class ErrorHandler final : public kj::TaskSet::ErrorHandler {
   public:
    void taskFailed(kj::Exception&& exception) override;
  } errorHandler;
  kj::TaskSet tasks;

  kj::Promise<ChildResult> run(kj::Array<kj::String> argv, ChildOptions options);
  kj::Promise<ChildResult> runAsDaemon(kj::Array<kj::String> argv);
  void go(uint64_t jobId);
  void flushReleases();
  void signal(uint64_t jobId, int signal);
  void watchLive();
  kj::Promise<void> queryOnce();
  void apply(kj::ArrayPtr<const uint64_t> asked, kj::ArrayPtr<const SlurmJobStatus> seen);
  void unreachable(kj::StringPtr what);
  void reachableAgain();
};

}  // namespace taskctl
