// Runs the task's command in a child of the shim and waits for it to end:
// the half of taskctl-exec that touches user code.
#pragma once

#include <kj/string.h>
#include <records.capnp.h>
#include <stdint.h>

#include "exec/capped-log.h"

namespace taskctl {

struct CommandEnd {
  // How the command ended, in the terms of records::ExecResult.
  bool spawnFailed = false;
  // No user code ran: the identity, cwd or exec was refused (exitCode 126 or
  // 127, message says why), or the shim could not fork.
  int exitCode = -1;  // the exit status, or -1 when killed by a signal
  int signal = 0;     // the signal that killed it, or 0
  kj::String message;
  int64_t startedAt = 0;  // realtime ns, around fork and wait
  int64_t endedAt = 0;
  uint64_t cpuUserUsec = 0;  // of the command and the children it waited for
  uint64_t cpuSystemUsec = 0;
  uint64_t peakMemoryBytes = 0;  // the largest resident set of any one of them
};

// How long the shim goes on copying output once the command's main process
// has ended: until nothing came for DRAIN_QUIET_MS, at most DRAIN_MAX_MS.
constexpr int DRAIN_QUIET_MS = 1000;
constexpr int DRAIN_MAX_MS = 5000;

CommandEnd runCommand(records::ExecSpec::Reader spec, CappedLog& log);
// Forks a child that becomes the command and blocks until it ends (EINTR is
// retried).
//
// Output: the command's stdout and stderr are the write end of one pipe (one,
// so that their interleaving is kept), which the shim copies into `log`, under
// its cap, while it waits. The copy ends at the pipe's EOF, once every process
// holding it has closed it; or, when the command's main process has ended but
// something it left behind still holds the pipe (a daemonized grandchild),
// DRAIN_QUIET_MS after the last data or DRAIN_MAX_MS after that end, whichever
// comes first: what is left behind cannot keep the attempt running, nor write
// to the log once the attempt has ended. It gets EPIPE (or SIGPIPE) on its
// next write instead. An uncapped log goes through the same pipe: it costs
// no wall time (the copy runs beside the command) and keeps these rules.
//
// Signals: the child leads a process group of its own in the shim's session
// (the shim leads that session). SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1
// and SIGUSR2 sent to the shim (by pid, pidfd or its group) are forwarded
// to that whole group while the command runs (copying or not), and the shim
// lives on to record the end. SIGKILL cannot be forwarded: a killed shim
// takes the command's first process with it (PR_SET_PDEATHSIG), but not what
// that process started in its group, which meets a closed pipe when it next
// writes; the daemon then stops the shim's session (runner/stop-session.h).
//
// In the child, in this order: every signal default, setpgid, none blocked,
// stdin /dev/null, stdout and stderr the pipe, every other fd closed,
// oom_score_adj 0, then (if spec.dropPrivileges) setgroups, setgid, setuid,
// then chdir(spec.cwd) (as the user, so a cwd they cannot enter fails),
// umask, and execve of argv[0] searched in the PATH of spec.env (not the
// shim's), with exactly spec.env. A failure of any step is reported back
// through a CLOEXEC pipe and becomes spawnFailed: 127 when the command is not
// found, 126 otherwise. Needs spec.argv non-empty and free of NUL bytes, as
// are env and cwd; the caller checks.

}  // namespace taskctl
