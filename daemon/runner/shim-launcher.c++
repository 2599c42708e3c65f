#include "runner/shim-launcher.h"

#include <capnp/serialize.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/result-file.h"
#include "exec/shim-exit.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char** environ;

namespace taskctl {
namespace {

int pidfdOpen(int pid) { return syscall(SYS_pidfd_open, pid, 0); }

void makeDir(kj::StringPtr path) {
  KJ_SYSCALL_HANDLE_ERRORS(mkdir(path.cStr(), 0700)) {
    case EEXIST:
      break;
    default:
      KJ_FAIL_SYSCALL("mkdir", error, path);
  }
}

class ResultFile final : public ExecOutcome {
 public:
  explicit ResultFile(kj::Own<capnp::MessageReader> message) : message(kj::mv(message)) {}
  records::ExecResult::Reader get() override { return message->getRoot<records::ExecResult>(); }

 private:
  kj::Own<capnp::MessageReader> message;
};

// An end known without a result file: from the shim's exit status.
class BuiltOutcome final : public ExecOutcome {
 public:
  explicit BuiltOutcome(kj::Own<capnp::MallocMessageBuilder> message) : message(kj::mv(message)) {}
  records::ExecResult::Reader get() override {
    return message->getRoot<records::ExecResult>().asReader();
  }

 private:
  kj::Own<capnp::MallocMessageBuilder> message;
};

// What the task sees: its submitted (cleaned) environment, then ours.
kj::Array<kj::String> taskEnvironment(records::Task::Reader task,
                                      records::Attempt::Reader attemptRecord) {
  uint32_t attempt = attemptRecord.getNumber();
  kj::Vector<kj::String> env;
  for (auto entry : task.getEnv()) {
    auto text = kj::heapString(reinterpret_cast<const char*>(entry.begin()), entry.size());
    // The client may not set what we set.
    if (text.startsWith("TASKCTL_TASK_ID=") || text.startsWith("TASKCTL_ATTEMPT=") ||
        text.startsWith("TASKCTL_QUEUE=")) {
      continue;
    }
    env.add(kj::mv(text));
  }
  env.add(kj::str("TASKCTL_TASK_ID=", task.getId()));
  env.add(kj::str("TASKCTL_ATTEMPT=", attempt));
  env.add(kj::str("TASKCTL_QUEUE=", task.getQueue()));
  if (attemptRecord.getNotifySocket().size() > 0) {
    env.add(kj::str("NOTIFY_SOCKET=", attemptRecord.getNotifySocket()));
    uint64_t heartbeat = task.getLimits().getHeartbeatUsec();
    if (heartbeat > 0) env.add(kj::str("WATCHDOG_USEC=", heartbeat));
  }
  return env.releaseAsArray();
}

}  // namespace

kj::String bootId() {
  char buf[64] = {};
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kj::str("unknown");
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == 0)) buf[--n] = 0;
  return kj::str(buf);
}

kj::Maybe<uint64_t> processStartTime(int pid) {
  auto path = kj::str("/proc/", pid, "/stat");
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return nullptr;
  buf[n] = 0;
  // The command name (field 2) may hold spaces and parentheses: count fields
  // after its last ')'.
  char* p = strrchr(buf, ')');
  if (p == nullptr) return nullptr;
  p++;
  // p is at the space before field 3; 19 more spaces reach the one before field 22.
  for (int field = 3; field < 22 && p != nullptr; field++) {
    p = strchr(p + 1, ' ');
  }
  if (p == nullptr) return nullptr;
  return strtoull(p + 1, nullptr, 10);
}

kj::Maybe<int> parentOf(int pid) {
  auto path = kj::str("/proc/", pid, "/stat");
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return nullptr;
  buf[n] = 0;
  // Field 4, two after the command name's last ')': ") S 1234".
  char* p = strrchr(buf, ')');
  if (p == nullptr || strlen(p) < 5) return nullptr;
  return atoi(p + 4);
}

ShimProcess::ShimProcess(kj::UnixEventPort& port, int pid, uint64_t startTime, kj::StringPtr boot,
                         kj::AutoCloseFd pidfdArg, kj::Maybe<kj::AutoCloseFd> goFd, bool ourChild)
    : pidValue(pid),
      startTimeValue(startTime),
      boot(boot),
      pidfd(kj::mv(pidfdArg)),
      goFd(kj::mv(goFd)),
      ourChild(ourChild),
      observer(port, pidfd.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ) {}

void ShimProcess::go() {
  KJ_IF_MAYBE (fd, goFd) {
    char byte = 'g';
    ssize_t n;
    do {
      n = write(fd->get(), &byte, 1);
    } while (n < 0 && errno == EINTR);
    // If the shim died meanwhile (EPIPE), its exit is reported by the pidfd.
    goFd = nullptr;
  }
}

kj::Promise<void> ShimProcess::exited() {
  return observer.whenBecomesReadable().then([this]() {
    if (ourChild) {
      // Reap exactly this child (never waitpid(-1): that would steal others).
      siginfo_t info;
      int rc;
      do {
        rc = waitid(static_cast<idtype_t>(P_PIDFD), pidfd.get(), &info, WEXITED);
      } while (rc < 0 && errno == EINTR);
      // How the command ended, should its result file be missing.
      if (rc == 0 && info.si_code == CLD_EXITED) exitStatus = info.si_status;
    }
  });
}

kj::Maybe<kj::Own<ExecOutcome>> ShimProcess::outcomeFromExit() {
  KJ_IF_MAYBE (status, exitStatus) {
    auto message = kj::heap<capnp::MallocMessageBuilder>(32);
    auto result = message->initRoot<records::ExecResult>();
    if (!outcomeFromShimExit(*status, result)) return nullptr;
    return kj::Own<ExecOutcome>(kj::heap<BuiltOutcome>(kj::mv(message)));
  }
  return nullptr;
}

bool signalShimChild(int shimPid, int shimPidfd, int child, int signal) {
  if (child <= 0) return false;
  // The child's pidfd first, the checks after: if the signal through it
  // lands, the child lived all along, so /proc was read about it. Had the
  // pid been reused before the open, the new process fails the parent
  // check; reused after it, the pidfd names the dead child, and no signal
  // lands.
  int fd = pidfdOpen(child);
  if (fd < 0) return false;  // gone (and reaped) already
  kj::AutoCloseFd childFd(fd);
  if (parentOf(child).orDefault(0) != shimPid) return false;
  // The shim still lives, so shimPid is still the shim's pid.
  if (syscall(SYS_pidfd_send_signal, shimPidfd, 0, nullptr, 0) != 0) return false;
  // The command leads its process group, whose id is its pid: while the
  // command lives (or is a zombie the shim has not reaped) that number can
  // name no other group. Its group first, the command itself last through
  // its pidfd (also if it left its group): the group id was checked as
  // held a moment ago, the time it takes this function to go on.
  if (syscall(SYS_pidfd_send_signal, childFd.get(), 0, nullptr, 0) != 0) return false;
  ::kill(-child, signal);
  syscall(SYS_pidfd_send_signal, childFd.get(), signal, nullptr, 0);
  return true;
}

bool signalCommandOf(int shimPid, int shimPidfd, int signal) {
  auto path = kj::str("/proc/", shimPid, "/task/", shimPid, "/children");
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[64] = {};
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  return signalShimChild(shimPid, shimPidfd, n > 0 ? atoi(buf) : 0, signal);
}

void ShimProcess::kill(int signal) {
  if (signal == SIGKILL) {
    // The shim cannot forward a SIGKILL (nobody can catch it), and killing
    // the shim would lose the result: kill the command's own process group
    // (the shim's one child leads it) and let the shim report the end.
    if (signalCommandOf(pidValue, pidfd.get(), SIGKILL)) return;
  }
  // Through the pidfd, so a recycled pid can never be hit. The shim forwards
  // TERM, INT, HUP, QUIT, USR1 and USR2 to the command's process group.
  syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0);
}

kj::Promise<void> ShimProcess::pause(bool paused) {
  // The command's process group (the shim's one child leads it), never the
  // shim: it keeps waiting for the command and reports its end. The kernel
  // stops a group at once, a fork in flight included; what left the group
  // (setsid, setpgid) is beyond reach, as for a kill (docs/cli.md).
  if (!signalCommandOf(pidValue, pidfd.get(), paused ? SIGSTOP : SIGCONT)) {
    return KJ_EXCEPTION(FAILED, "its command has ended");
  }
  return kj::READY_NOW;
}

ShimLauncher::ShimLauncher(kj::UnixEventPort& port, kj::StringPtr stateDir, kj::StringPtr shimPath,
                           bool dropPrivileges, uint64_t logMaxBytes, uint64_t logMinFreeBytes)
    : port(port),
      stateDir(kj::str(stateDir)),
      shimPath(kj::str(shimPath)),
      dropPrivileges(dropPrivileges),
      logMaxBytes(logMaxBytes),
      logMinFreeBytes(logMinFreeBytes),
      boot(bootId()) {
  makeDir(kj::str(stateDir, "/runs"));
  makeDir(kj::str(stateDir, "/logs"));
}

kj::String ShimLauncher::resultPath(uint64_t taskId, uint32_t attempt) {
  return kj::str(stateDir, "/runs/", taskId, "-", attempt, ".result");
}

kj::String ShimLauncher::logPath(uint64_t taskId, uint32_t attempt) {
  return kj::str(stateDir, "/logs/", taskId, "-", attempt, ".log");
}

void ShimLauncher::fillSpec(records::Task::Reader task, records::Attempt::Reader attempt,
                            records::ExecSpec::Builder spec) {
  auto id = task.getId();
  auto number = attempt.getNumber();
  spec.setTaskId(id);
  spec.setAttempt(number);
  spec.setUid(task.getUid());
  spec.setGid(task.getGid());
  spec.setGroups(task.getGroups());
  spec.setArgv(task.getArgv());
  auto env = taskEnvironment(task, attempt);
  auto specEnv = spec.initEnv(env.size());
  for (auto i : kj::indices(env)) specEnv.set(i, env[i].asBytes());
  spec.setCwd(task.getCwd());
  spec.setUmask(task.getUmask());
  spec.setLogPath(logPath(id, number));
  spec.setResultPath(resultPath(id, number));
  spec.setDropPrivileges(dropPrivileges);
  spec.setLogMaxBytes(logMaxBytes);
  spec.setLogMinFreeBytes(logMinFreeBytes);
  spec.setNofileSoftLimit(taskNofileLimit);
}

kj::Own<ShimProcess> ShimLauncher::spawn(records::Task::Reader task,
                                         records::Attempt::Reader attempt) {
  auto id = task.getId();
  auto number = attempt.getNumber();
  KJ_CONTEXT("starting the shim", id, number);
  // A flat file, not a directory per attempt: mkdir and rmdir on every
  // execution cost the loop real time (bench/README.md).
  auto result = resultPath(id, number);
  unlink(result.cStr());  // attempt numbers are never reused: only ever debris

  // The spec goes through a memfd: no file to clean up, no size limit of a pipe.
  capnp::MallocMessageBuilder message;
  fillSpec(task, attempt, message.initRoot<records::ExecSpec>());
  int memfd = -1;
  KJ_SYSCALL_HANDLE_ERRORS(memfd = memfd_create("taskctl-spec", MFD_CLOEXEC)) {
    default:
      KJ_FAIL_SYSCALL("memfd_create", error);
  }
  kj::AutoCloseFd specFd(memfd);
  capnp::writeMessageToFd(specFd.get(), message);

  int goPipe[2];
  KJ_SYSCALL(pipe2(goPipe, O_CLOEXEC));
  kj::AutoCloseFd goRead(goPipe[0]), goWrite(goPipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  KJ_DEFER(posix_spawn_file_actions_destroy(&actions));
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, goRead.get(), 3);
  posix_spawn_file_actions_adddup2(&actions, specFd.get(), 4);

  // The daemon blocks signals for kj and ignores SIGPIPE: none of that may
  // reach the shim, let alone the task.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  KJ_DEFER(posix_spawnattr_destroy(&attr));
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  // Its own session: a signal to the daemon's group or terminal never hits it.
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);

  const char* argv[] = {shimPath.cStr(), "--go-fd", "3", "--spec-fd", "4", nullptr};
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, shimPath.cStr(), &actions, &attr, const_cast<char**>(argv),
                       const_cast<char**>(envp));
  if (rc != 0) {
    // posix_spawn returns its error rather than setting errno; the text is
    // what a task that could not start shows ("could not start: ...").
    KJ_FAIL_REQUIRE("cannot start the execution shim", shimPath, strerror(rc));
  }
  int pidfd = -1;
  KJ_SYSCALL_HANDLE_ERRORS(pidfd = pidfdOpen(pid)) {
    default:
      ::kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      KJ_FAIL_SYSCALL("pidfd_open", error, pid);
  }
  // The child cannot have exited unnoticed: it is unreaped until we waitid.
  uint64_t start = processStartTime(pid).orDefault(0);
  return kj::heap<ShimProcess>(port, pid, start, boot, kj::AutoCloseFd(pidfd), kj::mv(goWrite),
                               true);
}

kj::Maybe<kj::Own<ShimProcess>> ShimLauncher::adopt(records::Attempt::Reader attempt) {
  int pid = attempt.getShimPid();
  uint64_t id = attempt.getTaskId();
  uint32_t number = attempt.getNumber();
  // Why an attempt is not adopted goes to the log: it decides between
  // ingesting a result and calling the attempt lost.
  auto notAdopted = [&](kj::StringPtr why) -> kj::Maybe<kj::Own<ShimProcess>> {
    KJ_LOG(INFO, "not re-adopting", id, number, pid, why);
    return nullptr;
  };
  if (pid <= 0) return notAdopted("no shim pid recorded");
  if (attempt.getBootId() != boot) return notAdopted("recorded in an earlier boot");
  auto sameProcess = [&]() {
    KJ_IF_MAYBE (start, processStartTime(pid)) {
      return *start == attempt.getShimStartTime();
    }
    return false;
  };
  if (!sameProcess()) return notAdopted("the shim is gone (or its pid was reused)");
  int pidfd = pidfdOpen(pid);
  if (pidfd < 0) return notAdopted("pidfd_open failed");
  kj::AutoCloseFd owned(pidfd);
  // Checked again now that the pidfd pins the process: the pid may have been
  // reused between the first check and the open.
  if (!sameProcess()) return notAdopted("the shim is gone (or its pid was reused)");
  return kj::heap<ShimProcess>(port, pid, attempt.getShimStartTime(), boot, kj::mv(owned), nullptr,
                               false);
}

kj::Maybe<kj::Own<ExecOutcome>> ShimLauncher::readOutcome(uint64_t taskId, uint32_t attempt) {
  auto result = readExecResult(resultPath(taskId, attempt));
  KJ_IF_MAYBE (message, result) {
    return kj::Own<ExecOutcome>(kj::heap<ResultFile>(kj::mv(*message)));
  }
  return nullptr;
}

void ShimLauncher::release(uint64_t taskId, uint32_t attempt) {
  auto path = resultPath(taskId, attempt);
  unlink(path.cStr());
  unlink(kj::str(path, ".tmp").cStr());
}

}  // namespace taskctl
