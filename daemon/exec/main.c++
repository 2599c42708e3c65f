// taskctl-exec: the shim between taskctld and one attempt of a task
// (DESIGN sections 9 and 10).
//
//   taskctl-exec --go-fd 3 --spec-fd 4
//   taskctl-exec --spec-file PATH       (a Slurm job: docs/slurm.md)
//
// The daemon spawns it with the attempt's ExecSpec on a memfd and the read
// end of a "go" pipe, moves it into the attempt's scope, commits the attempt
// as running, and only then writes go. The shim runs the command in a child,
// waits for it and leaves a result file, the one record of how the attempt
// ended that survives a daemon restart. If go never comes, no user code runs.
//
// Under a Slurm queue the shim is the job's batch script and runs as the task's
// owner: the spec is a file in the attempt's run directory on the shared
// directory, and there is no go fd, because the job itself is "go": it was
// submitted held and released only once `running` with its job id was durable.
//
// stdout is /dev/null; stderr is the daemon's, for the shim's own one-line
// diagnostics. Exit status: how the command ended, whether or not the result
// could be written (exec/shim-exit.h), so that the daemon, whose child the
// shim is, records the real end even when a full disk kept the result file
// from being written; 255 when the shim failed before anything could run.
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/function.h>
#include <kj/io.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec/capped-log.h"
#include "exec/message-file.h"
#include "exec/result-file.h"
#include "exec/scope-accounting.h"
#include "exec/shim-exit.h"
#include "exec/spawn-command.h"

namespace taskctl {
namespace {

// An argv, env and cwd fit in a few MiB (ARG_MAX); this only bounds a bad fd.
constexpr size_t MAX_SPEC_BYTES = 64 << 20;

// One line on stderr: the daemon logs it as is.
void say(kj::StringPtr message) {
  auto line = kj::str("taskctl-exec: ", message, '\n');
  for (size_t i = 0; i + 1 < line.size(); i++) {
    if (line[i] == '\n') line[i] = ' ';
  }
  // Best effort: stderr may be gone with the daemon (SIGPIPE is ignored).
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(STDERR_FILENO, line.begin() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += n;
  }
}

[[noreturn]] void die(kj::StringPtr message) {
  say(message);
  _exit(SHIM_EXIT_SHIM_FAILED);
}

void prepareOwnProcess() {
  // Whatever the shim opens must not land on 0-2, where the child expects to
  // dup2 distinct fds.
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      if (open("/dev/null", O_RDWR) != fd) _exit(SHIM_EXIT_SHIM_FAILED);
    }
  }
  // An ignored SIGCHLD would have the kernel reap the command, and wait4 fail.
  signal(SIGCHLD, SIG_DFL);
  // stderr may be a pipe to a daemon that died: a diagnostic must not kill
  // the shim before it writes the result.
  signal(SIGPIPE, SIG_IGN);
}

struct Flags {
  int goFd = 3;  // -1: none (--spec-file without --go-fd): run at once
  int specFd = 4;
  kj::Maybe<kj::String> specFile;
};

Flags parseFlags(int argc, char* argv[]) {
  auto fdArgument = [&](int& i, kj::StringPtr name) -> int {
    kj::StringPtr arg = argv[i];
    kj::StringPtr value;
    if (arg.startsWith(kj::str(name, "="))) {
      value = arg.slice(name.size() + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      die(kj::str(name, " needs a file descriptor"));
    }
    char* end;
    errno = 0;
    long fd = strtol(value.cStr(), &end, 10);
    if (errno != 0 || value.size() == 0 || *end != '\0' || fd < 0 || fd > INT32_MAX) {
      die(kj::str(name, ": not a file descriptor: ", value));
    }
    return int(fd);
  };

  Flags flags;
  bool goGiven = false;
  for (int i = 1; i < argc; i++) {
    kj::StringPtr arg = argv[i];
    if (arg == "--go-fd" || arg.startsWith("--go-fd=")) {
      flags.goFd = fdArgument(i, "--go-fd");
      goGiven = true;
    } else if (arg == "--spec-fd" || arg.startsWith("--spec-fd=")) {
      flags.specFd = fdArgument(i, "--spec-fd");
    } else if (arg == "--spec-file" && i + 1 < argc) {
      flags.specFile = kj::str(argv[++i]);
    } else if (arg.startsWith("--spec-file=")) {
      flags.specFile = kj::str(arg.slice(strlen("--spec-file=")));
    } else {
      die(kj::str("unknown argument: ", arg,
                  " (usage: taskctl-exec --go-fd N --spec-fd N | --spec-file PATH)"));
    }
  }
  if (flags.specFile != nullptr && !goGiven) flags.goFd = -1;
  return flags;
}

bool hasNul(capnp::Data::Reader data) {
  for (auto byte : data) {
    if (byte == 0) return true;
  }
  return false;
}

// What makes a spec unusable, or null. The daemon builds specs, so any of
// these is a bug there; the shim refuses rather than run something else.
kj::Maybe<kj::String> checkSpec(records::ExecSpec::Reader spec) {
  if (spec.getResultPath().size() == 0) return kj::str("the spec has no resultPath");
  if (spec.getLogPath().size() == 0) return kj::str("the spec has no logPath");
  if (spec.getArgv().size() == 0 || spec.getArgv()[0].size() == 0) {
    return kj::str("the spec has no command");
  }
  if (spec.getCwd().size() == 0) return kj::str("the spec has no cwd");
  // execve and chdir take C strings: a NUL would silently cut an argument.
  for (auto arg : spec.getArgv()) {
    if (hasNul(arg)) return kj::str("an argument of the spec holds a NUL byte");
  }
  for (auto entry : spec.getEnv()) {
    if (hasNul(entry)) return kj::str("an environment entry of the spec holds a NUL byte");
  }
  if (hasNul(spec.getCwd())) return kj::str("the spec's cwd holds a NUL byte");
  return nullptr;
}

// Blocks until the daemon writes the go byte (true) or closes its end
// without one (false): it died, or decided not to run the attempt.
bool waitForGo(int fd) {
  for (;;) {
    char byte;
    ssize_t n = read(fd, &byte, 1);
    if (n == 1) return true;
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      // A non-blocking pipe: wait for it the slow way.
      struct pollfd pfd = {fd, POLLIN, 0};
      if (poll(&pfd, 1, -1) >= 0 || errno == EINTR) continue;
    }
    say(kj::str("cannot read the go fd ", fd, ": ", strerror(errno)));
    return false;
  }
}

void protectFromOomKiller() {
  // The shim holds the only record of how the command ends: under memory
  // pressure the kernel must pick the command, not the shim. Needs
  // CAP_SYS_RESOURCE; an unprivileged shim takes its chances.
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  while (write(fd, "-1000", 5) < 0 && errno == EINTR) {
  }
  close(fd);
}

// Appends one line to the task's log, so `taskctl logs` shows why the
// command never ran. Best effort: the result carries the same message.
void logLine(CappedLog& log, kj::StringPtr message) {
  auto line = kj::str("taskctl-exec: ", message, '\n');
  log.write(line.asBytes());
}

// The result file's room on disk, taken before the command runs (null if
// even that failed: then the exit status alone carries the end).
kj::Maybe<kj::Own<ReservedResult>> reservedResult;

// Writes the attempt's result (into its reserved room when there is one)
// and returns the status to exit with, which carries the same end: without
// either, the daemon can only call the attempt lost.
int writeResult(records::ExecSpec::Reader spec,
                kj::FunctionParam<void(records::ExecResult::Builder)> fill) {
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<records::ExecResult>();
  result.setVersion(records::RESULT_VERSION);
  result.setTaskId(spec.getTaskId());
  result.setAttempt(spec.getAttempt());
  fill(result);
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 KJ_IF_MAYBE (reserved, reservedResult) {
                   KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                                       [&]() { (*reserved)->write(result.asReader()); })) {
                     say(kj::str("cannot write the reserved result ", spec.getResultPath(), ": ",
                                 e->getDescription(), "; trying without the reservation"));
                     writeExecResult(spec.getResultPath(), result.asReader());
                   }
                 } else {
                   writeExecResult(spec.getResultPath(), result.asReader());
                 }
               })) {
    say(kj::str("cannot write the result ", spec.getResultPath(), ": ", e->getDescription(),
                "; the exit status carries the command's end"));
  }
  return shimExitStatus(result.asReader());
}

void notStarted(records::ExecResult::Builder result) { result.setNotStarted(true); }

CommandEnd startFailure(kj::String message) {
  CommandEnd end;
  end.spawnFailed = true;
  end.exitCode = 126;
  end.message = kj::mv(message);
  return end;
}

int64_t realtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace
}  // namespace taskctl

int main(int argc, char* argv[]) {
  using namespace taskctl;
  prepareOwnProcess();
  Flags flags = parseFlags(argc, argv);

  // 1. The spec: the command, the identity to run it as, where the log and
  //    the result go. One we cannot use runs nothing.
  kj::Own<capnp::MessageReader> specMessage;
  KJ_IF_MAYBE (path, flags.specFile) {
    // O_NOFOLLOW: the run directory is the owner's; the spec is what the
    // daemon wrote there, not whatever a link in its place names.
    int fd;
    do {
      fd = open(path->cStr(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) die(kj::str("cannot open the spec ", *path, ": ", strerror(errno)));
    flags.specFd = fd;
  }
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 specMessage = readMessageFile(flags.specFd, MAX_SPEC_BYTES);
                 specMessage->getRoot<records::ExecSpec>()
                     .totalSize();  // checks the whole message now
               })) {
    die(kj::str("cannot read the spec on fd ", flags.specFd, ": ", e->getDescription()));
  }
  close(flags.specFd);
  auto spec = specMessage->getRoot<records::ExecSpec>();
  KJ_IF_MAYBE (problem, checkSpec(spec)) {
    // The command could not be started, as a missing command cannot: an
    // end, never "not started" (which the daemon requeues, and which would
    // come back at every attempt). The status carries it too, should the
    // result not be written.
    say(*problem);
    if (spec.getResultPath().size() == 0) die(*problem);
    return writeResult(spec, [&](records::ExecResult::Builder result) {
      result.setSpawnFailed(true);
      result.setExitCode(126);
      result.setMessage(kj::str("taskctl-exec refused the command: ", *problem));
    });
  }

  // The result's room on disk, before the command can fill the disk.
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(
                      [&]() { reservedResult = kj::heap<ReservedResult>(spec.getResultPath()); })) {
    // Run anyway: the daemon that spawned us reads the end from our exit
    // status. Refusing would only requeue the attempt onto the same disk.
    say(kj::str("cannot reserve room for the result: ", e->getDescription()));
  }

  // 2. Wait for go. Until it comes the attempt is only `starting` in the
  //    store: if the daemon goes away instead, say so and run nothing, and
  //    the daemon requeues the attempt.
  if (flags.goFd >= 0) {
    if (!waitForGo(flags.goFd)) return writeResult(spec, notStarted);
    close(flags.goFd);
  }

  // 3. Run the command, its output appended to the attempt's log (owned by
  //    root, in the daemon's directory: the user can read it, not forge it)
  //    under the spec's cap. O_NOFOLLOW: root must never append to (or
  //    create) whatever file a link in the log's place names.
  CommandEnd end;
  int logFd;
  do {
    logFd =
        open(spec.getLogPath().cStr(), O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
  } while (logFd < 0 && errno == EINTR);
  if (logFd < 0) {
    end = startFailure(kj::str("cannot open the log ", spec.getLogPath(), ": ", strerror(errno)));
    end.startedAt = end.endedAt = realtimeNs();
  } else {
    CappedLog log(kj::AutoCloseFd(logFd), spec.getLogPath(), spec.getLogMaxBytes(),
                  spec.getLogMinFreeBytes());
    protectFromOomKiller();
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { end = runCommand(spec, log); })) {
      end = startFailure(kj::str("cannot run the command: ", e->getDescription()));
      end.startedAt = end.endedAt = realtimeNs();
    }
    if (end.spawnFailed) logLine(log, end.message);
    KJ_IF_MAYBE (problem, log.firstError()) {
      say(*problem);
    }
  }

  // 4. The scope's accounting, read while the shim still keeps the scope alive.
  uint32_t oomKills = 0;
  auto scopeName = kj::str("taskctl-", spec.getTaskId(), "-", spec.getAttempt(), ".scope");
  KJ_IF_MAYBE (accounting, readScopeAccounting(scopeName)) {
    KJ_IF_MAYBE (peak, accounting->peakMemoryBytes) {
      end.peakMemoryBytes = *peak;
    }
    oomKills = accounting->oomKills;
  }

  // 5. The result, durably, before the shim exits: the daemon ingests it
  //    even if it was down while the command ran.
  return writeResult(spec, [&](records::ExecResult::Builder result) {
    result.setSpawnFailed(end.spawnFailed);
    result.setExitCode(end.exitCode);
    result.setSignal(end.signal);
    result.setMessage(end.message);
    result.setStartedAt(end.startedAt);
    result.setEndedAt(end.endedAt);
    result.setCpuUserUsec(end.cpuUserUsec);
    result.setCpuSystemUsec(end.cpuSystemUsec);
    result.setPeakMemoryBytes(end.peakMemoryBytes);
    result.setOomKills(oomKills);
  });
}
