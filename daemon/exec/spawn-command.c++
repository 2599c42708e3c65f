#include "spawn-command.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <kj/vector.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace taskctl {
namespace {

// The PATH a shell would use when the task's environment has none.
constexpr const char* DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

// The signals a daemon sends to end or nudge an execution. It signals the
// shim (through a pidfd, or the shim's process group); the shim passes them
// on to the command's process group.
constexpr int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// The pipe that carries the command's output: larger than the default 64
// KiB, so a chatty command wakes the shim less often; reads take a quarter.
constexpr int PIPE_BYTES = 1 << 20;
constexpr size_t READ_BYTES = 256 << 10;

// How often the shim checks for the command's end where it has no pidfd
// (kernels before 5.3).
constexpr int EXIT_POLL_MS = 50;

// The command's process group, for the signal handler, which can reach
// nothing else; 0 while there is none. The one global of the shim.
volatile sig_atomic_t commandGroup = 0;

void forwardSignal(int sig) {
  int savedErrno = errno;
  if (commandGroup > 0) kill(-commandGroup, sig);
  errno = savedErrno;
}

sigset_t forwardedSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : FORWARDED) sigaddset(&set, sig);
  return set;
}

// Which step of becoming the command failed, as the child reports it.
enum class Stage : int32_t { SETUP, GROUPS, GID, UID, CWD, EXEC, NOT_FOUND };

struct ChildReport {
  Stage stage;
  int32_t error;  // errno
  int32_t code;   // the exit status the attempt gets: 126 or 127
};
// One write of at most PIPE_BUF bytes is atomic: the parent reads all or nothing.
static_assert(sizeof(ChildReport) <= PIPE_BUF);

int64_t nowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t monotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

uint64_t usec(const struct timeval& tv) { return uint64_t(tv.tv_sec) * 1000000 + tv.tv_usec; }

kj::String fromData(capnp::Data::Reader data) {
  return kj::heapString(reinterpret_cast<const char*>(data.begin()), data.size());
}

// A NULL-terminated vector of C strings pointing into `strings`.
kj::Array<char*> cStrings(kj::ArrayPtr<kj::String> strings) {
  auto result = kj::heapArrayBuilder<char*>(strings.size() + 1);
  for (auto& s : strings) result.add(const_cast<char*>(s.cStr()));
  result.add(nullptr);
  return result.finish();
}

// Everything the child needs, built before fork: the child then only makes
// system calls, allocates nothing and cannot throw.
struct Prepared {
  kj::Array<kj::String> argvStrings;
  kj::Array<char*> argv;
  kj::Array<kj::String> envStrings;
  kj::Array<char*> envp;
  kj::Array<kj::String> candidates;  // the paths execve tries, in order
  kj::String cwd;
  bool dropPrivileges;
  uid_t uid;
  gid_t gid;
  kj::Array<gid_t> groups;
  mode_t umask;
  uint64_t nofileSoftLimit;  // 0: keep the shim's
};

// The paths to try for `command`, as execvp would, but searching `path`:
// glibc's execvpe searches the shim's own PATH, not the task's.
kj::Array<kj::String> searchCandidates(kj::StringPtr command, kj::StringPtr path) {
  kj::Vector<kj::String> candidates;
  if (command.findFirst('/') != nullptr) {
    candidates.add(kj::heapString(command));
    return candidates.releaseAsArray();
  }
  size_t start = 0;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i == path.size() || path[i] == ':') {
      auto dir = path.slice(start, i);
      // An empty element is the current directory, as for execvp and sh.
      candidates.add(dir.size() == 0 ? kj::heapString(command) : kj::str(dir, '/', command));
      start = i + 1;
    }
  }
  return candidates.releaseAsArray();
}

Prepared prepare(records::ExecSpec::Reader spec) {
  Prepared p;
  p.argvStrings = KJ_MAP(arg, spec.getArgv()) { return fromData(arg); };
  p.argv = cStrings(p.argvStrings);
  p.envStrings = KJ_MAP(entry, spec.getEnv()) { return fromData(entry); };
  p.envp = cStrings(p.envStrings);

  kj::StringPtr path = DEFAULT_PATH;
  for (auto& entry : p.envStrings) {
    if (entry.startsWith("PATH=")) {
      path = entry.slice(strlen("PATH="));
      break;  // the first one, as getenv would find
    }
  }
  p.candidates = searchCandidates(p.argvStrings[0], path);

  p.cwd = fromData(spec.getCwd());
  p.dropPrivileges = spec.getDropPrivileges();
  p.uid = spec.getUid();
  p.gid = spec.getGid();
  p.groups = KJ_MAP(g, spec.getGroups()) { return gid_t(g); };
  p.umask = spec.getUmask() & 0777;
  p.nofileSoftLimit = spec.getNofileSoftLimit();
  return p;
}

[[noreturn]] void reportAndExit(int errorFd, Stage stage, int error, int code) {
  ChildReport report{stage, error, code};
  while (write(errorFd, &report, sizeof(report)) < 0 && errno == EINTR) {
  }
  _exit(code);
}

void closeRange(unsigned first, unsigned last) {
  if (first > last) return;
  if (close_range(first, last, 0) == 0) return;
  // Kernels before 5.9 have no close_range.
  struct rlimit limit;
  unsigned end = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY
                     ? unsigned(limit.rlim_max)
                     : 1u << 20;
  for (unsigned fd = first; fd <= last && fd < end; fd++) close(fd);
}

// The child's half: turns this process into the command or exits 126/127
// after telling the parent why. Async-signal-safe calls only.
[[noreturn]] void becomeCommand(const Prepared& p, pid_t shim, int devNull, int outputFd,
                                int errorFd) {
  auto fail = [errorFd](Stage stage) { reportAndExit(errorFd, stage, errno, 126); };

  // The daemon's blocked and ignored signals must not leak into the task,
  // nor the ones the shim ignores itself (DESIGN section 8).
  // The system call, not sigaction(3): glibc refuses to touch its internal
  // signals 32 and 33, and its posix_spawn leaves them ignored in every
  // process it starts. An all-zero kernel sigaction is SIG_DFL, no flags and
  // an empty mask, whatever the architecture's field order.
  unsigned long defaultAction[4] = {};
  static_assert(SIG_DFL == nullptr);
  for (int sig = 1; sig < NSIG; sig++) {
    syscall(SYS_rt_sigaction, sig, defaultAction, nullptr, (NSIG - 1) / 8);  // EINVAL: KILL, STOP
  }
  // Its own process group, which the shim signals as a whole, in the shim's
  // session: if the shim is killed, the daemon finds what the command left
  // behind by that session, whose id is the shim's recorded pid (a group of
  // its own would be a pid nobody recorded).
  if (setpgid(0, 0) < 0) fail(Stage::SETUP);
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) < 0) fail(Stage::SETUP);

  auto dupTo = [&fail](int from, int to) {
    while (dup2(from, to) < 0) {
      if (errno != EINTR) fail(Stage::SETUP);
    }
  };
  dupTo(devNull, STDIN_FILENO);
  dupTo(outputFd, STDOUT_FILENO);
  dupTo(outputFd, STDERR_FILENO);
  // Only 0-2 reach the task. The error pipe stays until exec closes it
  // (CLOEXEC): that close is how the parent learns the exec succeeded.
  closeRange(3, errorFd - 1);
  closeRange(errorFd + 1, ~0U);

  // The shim protected itself from the OOM killer; the task must not be.
  // Done while still root: lowering it back below a raised value needs
  // CAP_SYS_RESOURCE. Failure means it was never lowered.
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    while (write(oom, "0", 1) < 0 && errno == EINTR) {
    }
    close(oom);
  }

  // The daemon raised its soft open-file limit for its connections; the
  // command gets the one the daemon started with (never above the hard
  // limit, which is unchanged). Lowering needs no privilege.
  if (p.nofileSoftLimit != 0) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0) fail(Stage::SETUP);
    if (p.nofileSoftLimit < limit.rlim_max) limit.rlim_cur = p.nofileSoftLimit;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0) fail(Stage::SETUP);
  }

  if (p.dropPrivileges) {
    if (setgroups(p.groups.size(), p.groups.begin()) < 0) fail(Stage::GROUPS);
    if (setgid(p.gid) < 0) fail(Stage::GID);
    if (setuid(p.uid) < 0) fail(Stage::UID);
  }
  // A SIGKILL ends the shim without a word to the command: then the command
  // dies too rather than run on unrecorded (its attempt is lost, and may be
  // retried). Set after setuid, which clears it; the getppid check closes
  // the window in which the shim may already have died.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) fail(Stage::SETUP);
  if (getppid() != shim) _exit(126);
  // After the identity change, so a cwd the user may not enter fails.
  if (chdir(p.cwd.cStr()) < 0) fail(Stage::CWD);
  umask(p.umask);

  bool denied = false;
  for (auto& candidate : p.candidates) {
    execve(candidate.cStr(), p.argv.begin(), p.envp.begin());
    switch (errno) {
      case EACCES:
        // As execvp: a later directory may still hold an executable one.
        denied = true;
        break;
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
        break;  // not in this directory
      default:
        fail(Stage::EXEC);
    }
  }
  if (denied) reportAndExit(errorFd, Stage::EXEC, EACCES, 126);
  reportAndExit(errorFd, Stage::NOT_FOUND, ENOENT, 127);
}

kj::String describe(const ChildReport& report, const Prepared& p) {
  auto error = strerror(report.error);
  switch (report.stage) {
    case Stage::SETUP:
      return kj::str("cannot prepare the command's process: ", error);
    case Stage::GROUPS:
      return kj::str("cannot set the supplementary groups: ", error);
    case Stage::GID:
      return kj::str("cannot set gid ", p.gid, ": ", error);
    case Stage::UID:
      return kj::str("cannot set uid ", p.uid, ": ", error);
    case Stage::CWD:
      return kj::str("cannot enter ", p.cwd, ": ", error);
    case Stage::EXEC:
      return kj::str("cannot execute ", p.argvStrings[0], ": ", error);
    case Stage::NOT_FOUND:
      return kj::str("command not found: ", p.argvStrings[0]);
  }
  return kj::str("cannot start the command: ", error);
}

CommandEnd shimFailure(kj::StringPtr what, int error) {
  CommandEnd end;
  end.spawnFailed = true;
  end.exitCode = 126;
  end.message = kj::str(what, ": ", strerror(error));
  end.startedAt = end.endedAt = nowNs();
  return end;
}

// How the command's main process ended, from wait4.
struct Reaped {
  int status = 0;
  struct rusage usage = {};
  int64_t at = 0;  // realtime ns
};

// Reaps `pid` if it has ended, or (`block`) once it has. The signal handler
// forwards while this blocks.
bool reap(pid_t pid, bool block, Reaped& reaped) {
  pid_t done;
  KJ_SYSCALL(done = wait4(pid, &reaped.status, block ? 0 : WNOHANG, &reaped.usage));
  if (done != pid) return false;
  // Once reaped, its pid may be reused by an unrelated group (a grandchild
  // may still keep the group alive; it then gets no more signals from us).
  commandGroup = 0;
  reaped.at = nowNs();
  return true;
}

// Copies the command's output from `out` (the pipe's non-blocking read end)
// into `log` and reaps `pid`, until the copy ends as runCommand says.
Reaped copyOutput(int out, pid_t pid, CappedLog& log) {
  auto buffer = kj::heapArray<kj::byte>(READ_BYTES);
  // The command's end, as a readable fd beside the pipe's.
  int pidfd = syscall(SYS_pidfd_open, pid, 0);
  kj::AutoCloseFd pidFile(pidfd);

  Reaped reaped;
  bool ended = false;
  int64_t endedAt = 0, lastData = 0;
  for (;;) {
    int timeout = -1;
    if (ended) {
      int64_t now = monotonicMs();
      int64_t deadline =
          kj::min(kj::max(endedAt, lastData) + DRAIN_QUIET_MS, endedAt + DRAIN_MAX_MS);
      if (now >= deadline) break;
      timeout = int(deadline - now);
    } else if (pidfd < 0) {
      timeout = EXIT_POLL_MS;
    }
    struct pollfd fds[2] = {{out, POLLIN, 0}, {pidfd, POLLIN, 0}};
    // A forwarded signal interrupts the poll (EINTR) once its handler ran.
    if (poll(fds, ended || pidfd < 0 ? 1 : 2, timeout) < 0) {
      if (errno == EINTR) continue;
      KJ_FAIL_SYSCALL("poll", errno);
    }
    if (fds[0].revents != 0) {
      // One read per turn, so a command that never stops writing cannot keep
      // the shim from noticing its end.
      ssize_t n = read(out, buffer.begin(), buffer.size());
      if (n > 0) {
        log.write(buffer.slice(0, n));
        if (ended) lastData = monotonicMs();
      } else if (n == 0) {
        break;  // every writer closed it
      } else if (errno != EINTR && errno != EAGAIN) {
        KJ_FAIL_SYSCALL("read", errno);
      }
    }
    if (!ended && (pidfd < 0 || fds[1].revents != 0) && reap(pid, false, reaped)) {
      ended = true;
      endedAt = monotonicMs();
    }
  }
  // EOF before the end: the command closed its stdout and stderr and runs on.
  if (!ended) reap(pid, true, reaped);
  return reaped;
}

}  // namespace

CommandEnd runCommand(records::ExecSpec::Reader spec, CappedLog& log) {
  auto prepared = prepare(spec);

  int devNull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devNull < 0) return shimFailure("cannot open /dev/null", errno);
  kj::AutoCloseFd devNullFile(devNull);
  int errorPipe[2];
  if (pipe2(errorPipe, O_CLOEXEC) < 0) return shimFailure("cannot create a pipe", errno);
  kj::AutoCloseFd errorRead(errorPipe[0]);
  kj::AutoCloseFd errorWrite(errorPipe[1]);

  // The command's stdout and stderr, which the shim copies into the log.
  int outputPipe[2];
  if (pipe2(outputPipe, O_CLOEXEC) < 0) return shimFailure("cannot create a pipe", errno);
  kj::AutoCloseFd outputRead(outputPipe[0]);
  kj::AutoCloseFd outputWrite(outputPipe[1]);
  // Non-blocking for the shim's end only: the command's stays as it expects.
  KJ_SYSCALL(fcntl(outputRead, F_SETFL, O_NONBLOCK));
  // Best effort: past the kernel's pipe quota the pipe keeps the default size.
  fcntl(outputRead, F_SETPIPE_SZ, PIPE_BYTES);

  // A signal meant for the execution must end the command, not the shim,
  // which has yet to record the end. Blocked until the child has its own
  // group (it has once exec or failure closes the error pipe): a signal
  // arriving meanwhile waits, then is forwarded.
  struct sigaction forward;
  memset(&forward, 0, sizeof(forward));
  forward.sa_handler = forwardSignal;
  forward.sa_flags = SA_RESTART;
  sigfillset(&forward.sa_mask);
  for (int sig : FORWARDED) KJ_SYSCALL(sigaction(sig, &forward, nullptr));
  sigset_t forwarded = forwardedSet();
  KJ_SYSCALL(sigprocmask(SIG_BLOCK, &forwarded, nullptr));
  KJ_DEFER(sigprocmask(SIG_UNBLOCK, &forwarded, nullptr));

  CommandEnd end;
  end.startedAt = nowNs();
  pid_t shim = getpid();
  pid_t pid = fork();
  if (pid < 0) return shimFailure("cannot fork", errno);
  if (pid == 0) becomeCommand(prepared, shim, devNullFile, outputWrite, errorWrite);
  commandGroup = pid;
  // Else the reads below never see EOF.
  errorWrite = nullptr;
  outputWrite = nullptr;

  // EOF alone: the exec succeeded. A report: the child failed and exits.
  ChildReport report;
  size_t got = 0;
  for (;;) {
    ssize_t n;
    KJ_SYSCALL(n = read(errorRead, reinterpret_cast<char*>(&report) + got, sizeof(report) - got));
    if (n == 0 || (got += n) == sizeof(report)) break;
  }

  KJ_SYSCALL(sigprocmask(SIG_UNBLOCK, &forwarded, nullptr));

  Reaped reaped = copyOutput(outputRead, pid, log);
  end.endedAt = reaped.at;

  if (got == sizeof(report)) {
    end.spawnFailed = true;
    end.exitCode = report.code;
    end.message = describe(report, prepared);
    return end;
  }
  int status = reaped.status;
  if (WIFSIGNALED(status)) {
    end.signal = WTERMSIG(status);
  } else {
    end.exitCode = WEXITSTATUS(status);
  }
  end.cpuUserUsec = usec(reaped.usage.ru_utime);
  end.cpuSystemUsec = usec(reaped.usage.ru_stime);
  end.peakMemoryBytes = uint64_t(reaped.usage.ru_maxrss) * 1024;
  return end;
}

}  // namespace taskctl
