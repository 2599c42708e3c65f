// The runner the scheduler sees: the daemon's own (direct or scope) for
// every queue, but a queue with `runner = "slurm"`, which has a SlurmRunner
// of its own. Calls that name only a task and attempt are routed by the
// attempt's record (Attempt.sharedDir: a Slurm attempt's files are on its
// queue's shared directory), so a task's old attempts are found where they
// ran whatever the queue's runner is now.
#pragma once

#include <kj/function.h>

#include <map>

#include "runner/runner.h"
#include "runner/slurm/slurm-runner.h"

namespace taskctl {

class QueueRunners final : public Runner {
 public:
  explicit QueueRunners(Runner& local) : local(local) {}

  void setSlurm(kj::StringPtr queue, kj::Own<SlurmRunner> runner);
  // Replaces the queue's Slurm runner (null: the queue runs locally again).
  // An old runner whose jobs are still live is kept until they end.
  kj::Maybe<SlurmRunner&> slurmFor(kj::StringPtr queue);
  bool hasSlurm() const { return !slurm.empty(); }

  void setAttemptLookup(kj::Function<kj::String(uint64_t, uint32_t)> sharedDirOf);
  // The shared directory a stored attempt ran with ("" if none, or not a
  // Slurm attempt): from the store, set by the daemon.

  kj::StringPtr name() const override { return local.name(); }
  kj::String unitFor(uint64_t taskId, uint32_t attempt) override;
  void prepare(records::Task::Reader task, records::Attempt::Builder attempt) override;
  kj::Promise<kj::Own<Execution>> start(records::Task::Reader task,
                                        records::Attempt::Reader attempt) override;
  kj::Maybe<kj::Own<Execution>> adopt(records::Attempt::Reader attempt) override;
  kj::Maybe<kj::Own<ExecOutcome>> readOutcome(uint64_t taskId, uint32_t attempt) override;
  void stopRemains(records::Attempt::Reader attempt) override;
  void release(uint64_t taskId, uint32_t attempt) override;
  kj::String logPath(uint64_t taskId, uint32_t attempt) override;
  bool available() override { return local.available(); }
  kj::Promise<void> whenAvailable() override { return local.whenAvailable(); }
  bool availableFor(kj::StringPtr queue) override;
  kj::Promise<void> whenAvailableFor(kj::StringPtr queue) override;

 private:
  Runner& local;
  std::map<kj::String, kj::Own<SlurmRunner>> slurm;  // by queue name
  kj::Vector<kj::Own<SlurmRunner>> retired;          // replaced, kept for their live jobs
  kj::Maybe<kj::Function<kj::String(uint64_t, uint32_t)>> sharedDirOf;

  Runner& forQueue(kj::StringPtr queue);
  kj::Maybe<SlurmRunner&> forSharedDir(kj::StringPtr dir);
  kj::String storedSharedDir(uint64_t taskId, uint32_t attempt);
};

}  // namespace taskctl
