// The runner starts executions and reports how they ended. DirectRunner runs
// each shim as a plain child of the daemon (no systemd); ScopeRunner (next)
// puts each in its own transient systemd scope. Both use the same shim,
// taskctl-exec, and the same run directory layout, so the scheduler never
// knows which one it has.
#pragma once

#include <kj/async.h>
#include <kj/debug.h>
#include <kj/string.h>
#include <records.capnp.h>

namespace taskctl {

class ExecOutcome;

// How an execution ended in the eyes of the system that ran it, where that
// decides more than the shim's result can: a Slurm job that Slurm killed for
// memory or time, lost with its node, preempted, or cancelled by someone
// other than taskctl (docs/slurm.md, "States and limits").
struct ExternalEnd {
  enum class Kind { OOM, TIMEOUT, LOST, PREEMPTED, CANCELLED_ELSEWHERE };
  Kind kind;
  kj::String message;  // for the attempt, in Slurm's words
};

// The limits an attempt runs with: its own (a retry may have grown them,
// RetryPolicy), else, for an attempt stored before it kept them, the task's.
inline uint64_t attemptTimeoutUsec(records::Task::Reader task, records::Attempt::Reader attempt) {
  return attempt.getTimeoutUsec() ? attempt.getTimeoutUsec() : task.getLimits().getTimeoutUsec();
}
inline uint64_t attemptMemoryMaxBytes(records::Task::Reader task,
                                      records::Attempt::Reader attempt) {
  return attempt.getMemoryMaxBytes() ? attempt.getMemoryMaxBytes()
                                     : task.getLimits().getMemoryMaxBytes();
}

// Limits `taskctl update` changes on a running execution (0: unchanged).
struct LiveLimits {
  uint64_t memoryMaxBytes = 0;
  uint64_t cpuQuotaPerSecUsec = 0;
  uint64_t tasksMax = 0;
};

// One execution's shim, started or re-adopted. Owned by the scheduler for as
// long as the attempt is not terminal; destroying it leaves the shim running.
class Execution {
 public:
  virtual ~Execution() noexcept(false) = default;

  virtual int pid() const = 0;
  virtual uint64_t startTime() const = 0;
  // /proc/<pid>/stat start time: with the boot id it tells a reused pid apart.
  virtual kj::StringPtr bootId() const = 0;

  virtual void go() = 0;
  // Tells the shim to run the command. Call it only once `running` (with this
  // pid and start time) is durable: a shim that is never told runs nothing.

  virtual kj::Promise<void> exited() = 0;
  // Resolves once the shim has exited (and is reaped, when it is our child).
  // Its result, if it wrote one, is then in the run directory.

  virtual void kill(int signal) = 0;
  // Sends `signal` to the whole execution: the command's process group under
  // the direct runner, the scope under the scope runner.

  virtual bool setsLimits() const { return false; }
  virtual kj::Promise<void> setLimits(const LiveLimits& limits) {
    return KJ_EXCEPTION(FAILED, "this runner cannot change a running execution's limits");
  }
  // `taskctl update`: the memory, CPU and tasks limits of the running
  // execution, at once (the scope runner: SetUnitProperties on its scope).
  // Only where setsLimits(): the direct runner enforces none of them.

  virtual kj::Promise<void> pause(bool paused) = 0;
  // `pause` (paused) or `resume`: freezes or thaws the whole execution, but
  // the direct runner's shim, which must go on to report the end. Under the
  // direct runner SIGSTOP/SIGCONT to the command's process group; under the
  // scope runner FreezeUnit/ThawUnit on cgroup v2, SIGSTOP/SIGCONT to every
  // process of the scope's cgroup but the shim elsewhere (docs/cli.md,
  // "Pause and resume"). Either again changes nothing. Rejects if it could
  // not (the command has ended, systemd refused).

  virtual uint64_t slurmJobId() const { return 0; }
  // The batch job of a Slurm attempt (0: not one): committed with `running`
  // before go() releases it.
  virtual kj::Promise<kj::String> node() { return kj::NEVER_DONE; }
  // Resolves with the node once the job is seen running there (Slurm only).
  virtual kj::StringPtr lastNode() { return nullptr; }
  // The node the job was last seen on ("" if never): at its end, for a job
  // that ran between two queries.
  virtual kj::Maybe<ExternalEnd> externalEnd() { return nullptr; }
  // Once exited(): what the runner's own system says ended it, if that
  // overrides the result file (see ExternalEnd). Null: the result decides.

  virtual kj::Maybe<kj::Own<ExecOutcome>> outcomeFromExit() { return nullptr; }
  // Once exited(): the end the shim's exit status carries (exec/shim-exit.h),
  // for an attempt whose result file could not be written (a full disk).
  // Null when the shim is not our child (re-adopted: nobody reaps it for us),
  // was killed, or its status carries no end; the attempt is then lost.
};

// What taskctl-exec wrote before it exited, read from the run directory.
class ExecOutcome {
 public:
  virtual ~ExecOutcome() noexcept(false) = default;
  virtual records::ExecResult::Reader get() = 0;
};

class Runner {
 public:
  virtual ~Runner() noexcept(false) = default;

  virtual kj::StringPtr name() const = 0;  // "direct", "scope" or "slurm"

  virtual kj::String unitFor(uint64_t taskId, uint32_t attempt) = 0;
  // The systemd unit an attempt will run in ("" under the direct runner):
  // recorded with the attempt as `starting`, before the unit exists.

  virtual void prepare(records::Task::Reader task, records::Attempt::Builder attempt) {
    attempt.setUnit(unitFor(task.getId(), attempt.getNumber()));
  }
  // Fills in where a new attempt will run, before it is first stored as
  // `starting`: its unit, or (a Slurm queue) the shared directory of its files.

  virtual kj::Promise<kj::Own<Execution>> start(records::Task::Reader task,
                                                records::Attempt::Reader attempt) = 0;
  // Prepares the attempt's run directory and log, spawns the shim (waiting on
  // its go fd) and places it (in its scope). Rejects if it cannot; then no
  // user code ran.

  virtual kj::Maybe<kj::Own<Execution>> adopt(records::Attempt::Reader attempt) = 0;
  // After a daemon restart: the attempt's shim, if it still runs with the
  // recorded pid, start time and boot id. Null otherwise (it is gone).

  virtual kj::Maybe<kj::Own<ExecOutcome>> readOutcome(uint64_t taskId, uint32_t attempt) = 0;
  // The shim's result file, if there is a readable one.

  virtual void stopRemains(records::Attempt::Reader attempt) = 0;
  // For a `lost` attempt: stops whatever of it may still run (its scope), so
  // it never runs on beside a retry.

  virtual void release(uint64_t taskId, uint32_t attempt) = 0;
  // Removes the attempt's run directory. Call once its end is durable.

  virtual kj::String logPath(uint64_t taskId, uint32_t attempt) = 0;

  virtual bool available() { return true; }
  // False while the runner cannot start executions (the scope runner while
  // the system bus is gone): dispatch waits, and no task fails as `spawn`.
  // Running executions are not affected.
  virtual kj::Promise<void> whenAvailable() { return kj::READY_NOW; }
  // Resolves once available() is true again (at once if it is).
  virtual bool availableFor(kj::StringPtr queue) { return available(); }
  virtual kj::Promise<void> whenAvailableFor(kj::StringPtr queue) { return whenAvailable(); }
  // The same for one queue: QueueRunners answers for the runner of that queue.
};

kj::String bootId();
// This boot's id (/proc/sys/kernel/random/boot_id), to never adopt a pid of an
// earlier boot.

kj::Maybe<uint64_t> processStartTime(int pid);
// Field 22 of /proc/<pid>/stat, or null if there is no such process.

}  // namespace taskctl
