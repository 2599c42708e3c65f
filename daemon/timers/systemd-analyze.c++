#include "timers/systemd-analyze.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace taskctl {
namespace {

constexpr kj::Duration CHECK_DEADLINE = 10 * kj::SECONDS;

// One child: killed and reaped if dropped before it was reaped.
class Child {
 public:
  Child(kj::UnixEventPort& port, pid_t pid, kj::AutoCloseFd pidfdArg)
      : pid(pid),
        pidfd(kj::mv(pidfdArg)),
        observer(port, pidfd.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ) {}
  ~Child() {
    if (!reaped) {
      syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
      siginfo_t info;
      waitid(static_cast<idtype_t>(P_PIDFD), pidfd.get(), &info, WEXITED);
    }
  }
  KJ_DISALLOW_COPY(Child);

  // Its exit status (128+N for signal N).
  kj::Promise<int> exited() {
    siginfo_t info = {};
    int rc = waitid(static_cast<idtype_t>(P_PIDFD), pidfd.get(), &info, WEXITED | WNOHANG);
    if (rc < 0) KJ_FAIL_SYSCALL("waitid", errno, pid);
    if (info.si_pid != 0) {
      reaped = true;
      return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }
    return observer.whenBecomesReadable().then([this]() { return exited(); });
  }

 private:
  pid_t pid;
  kj::AutoCloseFd pidfd;
  kj::UnixEventPort::FdObserver observer;
  bool reaped = false;
};

kj::String oneLine(kj::StringPtr text) {
  kj::Vector<kj::String> lines;
  size_t start = 0;
  while (start < text.size()) {
    auto rest = text.slice(start);
    size_t end = rest.findFirst('\n').orDefault(rest.size());
    auto line = kj::heapString(rest.slice(0, end));
    if (line.size() > 0) lines.add(kj::mv(line));
    start += end + 1;
  }
  return kj::strArray(lines, "; ");
}

}  // namespace

SystemdAnalyze::SystemdAnalyze(kj::UnixEventPort& port, kj::LowLevelAsyncIoProvider& io,
                               kj::Timer& timer, kj::String program)
    : port(port), io(io), timer(timer), program(kj::mv(program)) {}

kj::Promise<kj::Maybe<kj::String>> SystemdAnalyze::check(kj::StringPtr spec) {
  int fds[2];
  KJ_SYSCALL(pipe2(fds, O_CLOEXEC));
  kj::AutoCloseFd readEnd(fds[0]), writeEnd(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  KJ_DEFER(posix_spawn_file_actions_destroy(&actions));
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), 2);
  // The daemon's blocked signals and ignored SIGPIPE must not leak into it.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  KJ_DEFER(posix_spawnattr_destroy(&attr));
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
  auto specArg = kj::str(spec);
  const char* argv[] = {program.cStr(), "calendar", "--", specArg.cStr(), nullptr};
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "SYSTEMD_COLORS=0",
                        "SYSTEMD_PAGER=cat", nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, program.cStr(), &actions, &attr, const_cast<char**>(argv),
                       const_cast<char**>(envp));
  // posix_spawn returns its errno rather than setting it.
  if (rc != 0) KJ_FAIL_SYSCALL("posix_spawn (to check the calendar spec)", rc, program);
  int pidfd = syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    int error = errno;
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    KJ_FAIL_SYSCALL("pidfd_open", error, pid);
  }
  // Registered before the loop turns: the child is ours to reap, by its pidfd.
  auto child = kj::heap<Child>(port, pid, kj::AutoCloseFd(pidfd));
  writeEnd = nullptr;  // our copy: the read ends when the child's does
  auto stream = io.wrapInputFd(readEnd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                                      kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
  auto& childRef = *child;
  auto& streamRef = *stream;
  auto result = streamRef.readAllText(64 * 1024)
                    .then([&childRef](kj::String errors) {
                      return childRef.exited().then(
                          [errors = kj::mv(errors)](int status) mutable -> kj::Maybe<kj::String> {
                            if (status == 0) return nullptr;
                            auto verdict = oneLine(errors);
                            if (verdict.size() == 0) {
                              verdict =
                                  kj::str("systemd-analyze calendar failed with status ", status);
                            }
                            return kj::mv(verdict);
                          });
                    })
                    .attach(kj::mv(stream), kj::mv(child));
  return timer.timeoutAfter(CHECK_DEADLINE, kj::mv(result));
}

}  // namespace taskctl
