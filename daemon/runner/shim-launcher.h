// Spawns taskctl-exec for an attempt and owns the files it works with:
//   <state>/runs/<id>-<n>.result   written by the shim (root only)
//   <state>/logs/<id>-<n>.log      the command's output
// Shared by both runners; the scope runner then moves the shim into a scope.
#pragma once

#include <kj/async-unix.h>
#include <kj/io.h>
#include <kj/string.h>

#include "runner/runner.h"

namespace taskctl {

// A shim process of ours or a re-adopted one, watched by pidfd.
class ShimProcess final : public Execution {
 public:
  // `goFd` is null for a re-adopted shim (it was told to go long ago).
  ShimProcess(kj::UnixEventPort& port, int pid, uint64_t startTime, kj::StringPtr boot,
              kj::AutoCloseFd pidfd, kj::Maybe<kj::AutoCloseFd> goFd, bool ourChild);

  int pid() const override { return pidValue; }
  uint64_t startTime() const override { return startTimeValue; }
  kj::StringPtr bootId() const override { return boot; }
  void go() override;
  kj::Promise<void> exited() override;
  void kill(int signal) override;
  kj::Promise<void> pause(bool paused) override;
  kj::Maybe<kj::Own<ExecOutcome>> outcomeFromExit() override;

 private:
  int pidValue;
  kj::Maybe<int> exitStatus;  // once reaped, if it exited (not killed)
  uint64_t startTimeValue;
  kj::StringPtr boot;  // the launcher's, which outlives every shim
  kj::AutoCloseFd pidfd;
  kj::Maybe<kj::AutoCloseFd> goFd;
  bool ourChild;
  kj::UnixEventPort::FdObserver observer;
};

kj::Maybe<int> parentOf(int pid);
// The parent's pid (field 4 of /proc/<pid>/stat); null if `pid` is gone.

bool signalCommandOf(int shimPid, int shimPidfd, int signal);
// Sends `signal` to a shim's command: its one child, which leads the
// command's process group, and that group. `shimPidfd` pins the shim. False
// if the shim has no child (any more) or is gone.

bool signalShimChild(int shimPid, int shimPidfd, int child, int signal);
// The second half of signalCommandOf: `child` is the pid /proc listed as the
// shim's child a moment ago, which may since have been reaped and reused.
// Signals nothing unless that pid is still the shim's child.

class ShimLauncher {
 public:
  // `stateDir` holds runs/ and logs/ (created here, mode 0700).
  // `dropPrivileges`: the shim runs the command as the submitter (the daemon
  // is root); otherwise it runs it as the daemon's own user.
  ShimLauncher(kj::UnixEventPort& port, kj::StringPtr stateDir, kj::StringPtr shimPath,
               bool dropPrivileges, uint64_t logMaxBytes = 0, uint64_t logMinFreeBytes = 0);

  void setLogMaxBytes(uint64_t bytes) { logMaxBytes = bytes; }
  // For attempts started from now on (logs.max_bytes after a reload).
  void setLogMinFreeBytes(uint64_t bytes) { logMinFreeBytes = bytes; }
  // Likewise, logs.min_free_bytes: the free space below which output is dropped.
  void setTaskNofileLimit(uint64_t soft) { taskNofileLimit = soft; }
  // The soft RLIMIT_NOFILE every command starts with (0: whatever the shim
  // has): the daemon raises its own for connections, tasks keep the old one.

  kj::Own<ShimProcess> spawn(records::Task::Reader task, records::Attempt::Reader attempt);
  // Throws if the shim cannot be spawned (no user code ran then).

  void fillSpec(records::Task::Reader task, records::Attempt::Reader attempt,
                records::ExecSpec::Builder spec);
  // The attempt's ExecSpec as spawn() hands it over (the Slurm runner then
  // points its paths at the shared directory).
  kj::StringPtr shim() const { return shimPath; }

  kj::Maybe<kj::Own<ShimProcess>> adopt(records::Attempt::Reader attempt);

  kj::Maybe<kj::Own<ExecOutcome>> readOutcome(uint64_t taskId, uint32_t attempt);
  void release(uint64_t taskId, uint32_t attempt);
  kj::String resultPath(uint64_t taskId, uint32_t attempt);
  kj::String logPath(uint64_t taskId, uint32_t attempt);

 private:
  kj::UnixEventPort& port;
  kj::String stateDir;
  kj::String shimPath;
  bool dropPrivileges;
  uint64_t logMaxBytes;
  uint64_t logMinFreeBytes;
  uint64_t taskNofileLimit = 0;
  kj::String boot;
};

}  // namespace taskctl
