// Runs a short command (sbatch, squeue, scancel, scontrol) on the daemon's
// one event-loop thread without ever waiting on it: vfork+exec, a pidfd
// and non-blocking pipes, each watched by an FdObserver.
#pragma once

#include <kj/array.h>
#include <kj/async-unix.h>
#include <kj/async.h>
#include <kj/string.h>
#include <kj/timer.h>
#include <stdint.h>
#include <sys/types.h>

namespace taskctl {

struct ChildOptions {
  // Who the command runs as, when the daemon is root: the child drops to
  // them (setgroups, setgid, setuid) before exec, so Slurm's munge
  // credential names the task's owner. -1: stay as we are (also what a
  // non-root daemon always does: it cannot be anyone else).
  int64_t uid = -1;
  int64_t gid = -1;
  kj::Array<gid_t> groups;  // supplementary groups, with uid/gid
  kj::String stdinBytes;    // written to its stdin; "" gives /dev/null
  // The whole environment; null: PATH=/usr/sbin:/usr/bin:/sbin:/bin and
  // LC_ALL=C (Slurm's messages are parsed, so no translations), never the daemon's.
  kj::Maybe<kj::Array<kj::String>> env;
  uint64_t timeoutUsec = 60000000;  // then SIGKILL and a rejected promise; 0: none
  size_t maxOutputBytes = 1 << 20;  // per stream: the rest is read and dropped
};

struct ChildResult {
  int status;  // the exit code, or 128 + the signal that ended it
  kj::String out, err;
};

kj::Promise<ChildResult> runChild(kj::UnixEventPort& port, kj::Timer& timer,
                                  kj::ArrayPtr<const kj::String> argv, ChildOptions options);
// Resolves once the command has exited (its pipes drained). A command that
// cannot be executed (missing, not executable) resolves with status 127 and
// err "cannot run PATH: REASON". Past the timeout the command is killed and
// the promise rejects ("PATH did not finish within 5s: killed"). Dropping
// the promise kills the command; it is reaped later, on the loop.

}  // namespace taskctl
