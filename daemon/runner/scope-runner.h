// ScopeRunner: each execution in its own transient systemd scope,
// taskctl-<id>-<attempt>.scope in taskctl.slice, whose one process at start
// is the shim (still waiting for its go). Limits become scope properties;
// kills go to the whole scope (KillUnit "all"), so processes that left the
// command's session die too.
#pragma once

#include <kj/async-unix.h>

#include "runner/runner.h"
#include "runner/scope-manager.h"
#include "runner/shim-launcher.h"

namespace taskctl {

class ScopeRunner final : public Runner {
 public:
  // Every reference outlives the runner. `cgroupV2`: a memory limit also
  // sets MemorySwapMax=0 (so it is a limit, not a push into swap).
  ScopeRunner(ShimLauncher& launcher, ScopeManager& scopes, bool cgroupV2);

  kj::StringPtr name() const override { return "scope"; }
  kj::String unitFor(uint64_t taskId, uint32_t attempt) override;
  kj::Promise<kj::Own<Execution>> start(records::Task::Reader task,
                                        records::Attempt::Reader attempt) override;
  kj::Maybe<kj::Own<Execution>> adopt(records::Attempt::Reader attempt) override;
  kj::Maybe<kj::Own<ExecOutcome>> readOutcome(uint64_t taskId, uint32_t attempt) override;
  void stopRemains(records::Attempt::Reader attempt) override;
  void release(uint64_t taskId, uint32_t attempt) override;
  kj::String logPath(uint64_t taskId, uint32_t attempt) override;
  // Scopes need systemd over the bus: not available while it is gone.
  // Running executions go on; a start the bus cuts off rejects DISCONNECTED.
  bool available() override { return scopes.connected(); }
  kj::Promise<void> whenAvailable() override { return scopes.whenConnected(); }

 private:
  ShimLauncher& launcher;
  ScopeManager& scopes;
  bool cgroupV2;
  struct LogErrors final : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& exception) override;
  } logErrors;
  kj::TaskSet stops;
  kj::Promise<void> stopWhenConnected(kj::String unit);
};

kj::Maybe<kj::String> cgroupDirOf(int pid);
// The cgroup directory holding `pid` (v2, or a hybrid host's unified or
// name=systemd hierarchy), from /proc/<pid>/cgroup.

kj::Maybe<kj::String> scopeCgroupOf(int pid, kj::StringPtr unit);
// cgroupDirOf(pid), if that directory is the scope `unit` (its last path
// component); else null, e.g. for a reused pid now in another cgroup.

bool signalMember(int pid, kj::StringPtr unit, int signal);
// Sends `signal` to `pid` if it is in the scope `unit`, as its cgroup.procs
// listed it a moment ago (it may since have exited and its pid been reused
// by a process elsewhere). True if it was signalled.

bool killCgroupExcept(int keep, kj::StringPtr unit, int signal);
// Sends `signal` to every process of `keep`'s scope `unit` but `keep`, until
// none is left. False if the scope's cgroup cannot be found.

bool stopCgroupExcept(int keep, kj::StringPtr unit);
// `pause` without systemd's freezer: SIGSTOP to every process of `keep`'s
// scope `unit` but `keep`, round after round until all are stopped (a
// bounded number of rounds). False if the scope's cgroup cannot be found.

bool continueCgroupExcept(int keep, kj::StringPtr unit);

bool scopeFrozen(int member, kj::StringPtr unit);
// cgroup v2: systemd's freezer holds `member`'s scope `unit` (its
// cgroup.events says "frozen 1"). False on v1 and when there is no such scope.
// `resume`: SIGCONT to every process of that scope but `keep`, once.

bool killLostScope(kj::StringPtr unit);
// SIGKILLs every process of scope `unit` in taskctl.slice, found by its name
// (its shim, whose pid finds it otherwise, is gone): cgroup.kill where the
// kernel has it, else rounds over cgroup.procs until none is left. False if
// the scope's cgroup does not exist (nothing of it is left).

bool signalScope(int member, kj::StringPtr unit, int signal);
// Sends `signal` once to every process of `member`'s scope `unit`, `member`
// included: KillUnit's "all" without the bus. False if there is no such scope.

ScopeRequest scopeRequestFor(records::Task::Reader task, records::Attempt::Reader attempt, int pid,
                             bool cgroupV2);
// The scope's properties for an attempt (pure; unit-tested): the task's
// limits, with the attempt's own memory limit and timeout (a retry may
// have grown them).
ScopeRequest scopeRequestFor(records::Task::Reader task, uint32_t attempt, int pid, bool cgroupV2);
// The same for an attempt that records no limits of its own.

ScopeLimits scopeLimitsFor(const LiveLimits& limits, bool cgroupV2);
// The scope properties `taskctl update` sets (pure; unit-tested).

}  // namespace taskctl
