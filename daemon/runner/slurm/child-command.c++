#include "runner/slurm/child-command.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/units.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace taskctl {
namespace {

int pidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

void setNonBlocking(int fd) {
  int flags;
  KJ_SYSCALL(flags = fcntl(fd, F_GETFL));
  KJ_SYSCALL(fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

struct Pipe {
  kj::AutoCloseFd read, write;
  Pipe() {
    int fds[2];
    KJ_SYSCALL(pipe2(fds, O_CLOEXEC));
    read = kj::AutoCloseFd(fds[0]);
    write = kj::AutoCloseFd(fds[1]);
  }
};

// One output stream: read as it comes (a full pipe would stall the child),
// kept up to the cap, the rest dropped.
class Reader {
 public:
  Reader(kj::UnixEventPort& port, kj::AutoCloseFd fd, size_t max)
      : fd(kj::mv(fd)), max(max), observer(port, this->fd.get(), OBSERVE) {}

  kj::Promise<void> run() {
    if (!drain()) return kj::READY_NOW;
    return observer.whenBecomesReadable().then([this]() { return run(); });
  }

  // false at end of file (or an error: nothing more will come).
  bool drain() {
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n > 0) {
        size_t keep = kj::min(static_cast<size_t>(n), max - kj::min(max, data.size()));
        data.addAll(buf, buf + keep);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && errno == EAGAIN;
    }
  }

  kj::String take() {
    data.add('\0');
    return kj::String(data.releaseAsArray());
  }

 private:
  static constexpr auto OBSERVE = kj::UnixEventPort::FdObserver::OBSERVE_READ;
  kj::AutoCloseFd fd;
  size_t max;
  kj::UnixEventPort::FdObserver observer;
  kj::Vector<char> data;
};

// The child's stdin: written as the pipe takes it; a child that exits
// without reading it ends the write (EPIPE; SIGPIPE is ignored under kj).
class Writer {
 public:
  Writer(kj::UnixEventPort& port, kj::AutoCloseFd fd, kj::String bytes)
      : fd(kj::mv(fd)),
        bytes(kj::mv(bytes)),
        observer(kj::heap<kj::UnixEventPort::FdObserver>(
            port, this->fd.get(), kj::UnixEventPort::FdObserver::OBSERVE_WRITE)) {}

  kj::Promise<void> run() {
    while (done < bytes.size()) {
      ssize_t n = ::write(fd.get(), bytes.begin() + done, bytes.size() - done);
      if (n > 0) {
        done += n;
      } else if (n < 0 && errno == EAGAIN) {
        return KJ_ASSERT_NONNULL(observer)->whenBecomesWritable().then([this]() { return run(); });
      } else if (!(n < 0 && errno == EINTR)) {
        break;
      }
    }
    observer = nullptr;  // before its fd closes: it unregisters the fd from epoll
    fd = nullptr;        // EOF for the child
    return kj::READY_NOW;
  }

 private:
  kj::AutoCloseFd fd;
  kj::String bytes;
  size_t done = 0;
  kj::Maybe<kj::Own<kj::UnixEventPort::FdObserver>> observer;
};

// A killed child whose promise was dropped: reaped when it is gone, on the
// loop, so the drop never waits and leaves no zombie.
void reapLater(kj::UnixEventPort& port, kj::AutoCloseFd pidfd) {
  auto observer = kj::heap<kj::UnixEventPort::FdObserver>(
      port, pidfd.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ);
  auto promise = observer->whenBecomesReadable();
  int fd = pidfd.get();
  promise
      .then([fd]() {
        siginfo_t info;
        while (waitid(static_cast<idtype_t>(P_PIDFD), fd, &info, WEXITED) < 0 && errno == EINTR) {
        }
      })
      .attach(kj::mv(observer), kj::mv(pidfd))
      .detach([](kj::Exception&&) {});
}

// What the child does between vfork and exec, all prepared beforehand.
struct ChildPlan {
  const char* file;
  const char* const* argv;
  const char* const* envp;
  int stdinFd, outFd, errFd, reportFd;
  bool drop;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  size_t groupCount;
};

// The child after vfork: it shares our memory, so only async-signal-safe
// calls. Raw syscalls for the credentials: glibc's setuid would signal
// every thread of the parent we share memory with. A failure's errno goes
// to the report pipe (closed by exec on success).
[[noreturn]] __attribute__((noinline)) void execChild(const ChildPlan& plan) {
  int failed = 0;
  if (dup2(plan.stdinFd, 0) < 0 || dup2(plan.outFd, 1) < 0 || dup2(plan.errFd, 2) < 0) {
    failed = errno;
  }
  if (failed == 0 && plan.drop) {
    if (syscall(SYS_setgroups, plan.groupCount, plan.groups) != 0 ||
        syscall(SYS_setgid, plan.gid) != 0 || syscall(SYS_setuid, plan.uid) != 0) {
      failed = errno;
    }
  }
  if (failed == 0) {
    // The daemon blocks signals for kj and ignores SIGPIPE: neither may
    // reach the command. Defaults first, then unblock.
    // The raw syscall: glibc's sigaction refuses its own two signals (32
    // and 33), which an ignoring parent (a build under dpkg) leaves ignored.
    struct {
      void* handler;
      unsigned long flags;
      void* restorer;
      uint64_t mask;
    } dfl = {};  // SIG_DFL, no flags, nothing masked
    for (int s = 1; s < NSIG; ++s) syscall(SYS_rt_sigaction, s, &dfl, nullptr, sizeof(dfl.mask));
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setsid();  // its own session: a signal to the daemon's group never hits it
    if (chdir("/") != 0) failed = errno;
  }
  if (failed == 0) {
    execve(plan.file, const_cast<char**>(plan.argv), const_cast<char**>(plan.envp));
    failed = errno;
  }
  ssize_t ignored = write(plan.reportFd, &failed, sizeof(failed));
  (void)ignored;
  _exit(127);
}

class Child {
 public:
  Child(kj::UnixEventPort& port, kj::Timer& timer, kj::ArrayPtr<const kj::String> argv,
        ChildOptions options)
      : port(port), timer(timer), path(kj::str(argv[0])), timeoutUsec(options.timeoutUsec) {
    start(argv, options);
  }

  ~Child() noexcept(false) {
    if (!reaped) {
      syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
      observer = nullptr;
      reapLater(port, kj::mv(pidfd));
    }
  }

  kj::Promise<ChildResult> run() {
    auto& exitObserver = KJ_ASSERT_NONNULL(observer);
    kj::Promise<void> exited = exitObserver->whenBecomesReadable();
    if (timeoutUsec > 0) {
      exited = exited.exclusiveJoin(
          timer.afterDelay(timeoutUsec * kj::MICROSECONDS).then([this]() -> kj::Promise<void> {
            timedOut = true;
            syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
            return kj::NEVER_DONE;
          }));
    }
    auto outputs = kj::heapArrayBuilder<kj::Promise<void>>(3);
    outputs.add(out->run());
    outputs.add(err->run());
    KJ_IF_MAYBE (w, in) outputs.add((*w)->run());
    // Outputs are read while it runs and drained once it exited: a
    // grandchild holding a pipe open must not keep us waiting for EOF.
    reading = kj::joinPromises(outputs.finish()).eagerlyEvaluate(nullptr);
    return exited.then([this]() { return finish(); });
  }

 private:
  kj::UnixEventPort& port;
  kj::Timer& timer;
  kj::String path;
  uint64_t timeoutUsec;
  kj::AutoCloseFd pidfd;
  kj::Maybe<kj::Own<kj::UnixEventPort::FdObserver>> observer;
  kj::Own<Reader> out, err;
  kj::Maybe<kj::Own<Writer>> in;
  kj::AutoCloseFd execError;  // the errno of a failed exec, else EOF at exec
  kj::Promise<void> reading = nullptr;
  bool reaped = false;
  bool timedOut = false;

  void start(kj::ArrayPtr<const kj::String> argv, ChildOptions& options) {
    // Everything the child needs is built before vfork: after it, the
    // child shares our memory and may only make async-signal-safe calls.
    auto args = kj::heapArray<const char*>(argv.size() + 1);
    for (auto i : kj::indices(argv)) args[i] = argv[i].cStr();
    args[argv.size()] = nullptr;
    kj::Array<kj::String> defaultEnv;
    kj::ArrayPtr<const kj::String> env;
    KJ_IF_MAYBE (e, options.env) {
      env = *e;
    } else {
      defaultEnv = kj::arr(kj::str("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), kj::str("LC_ALL=C"));
      env = defaultEnv;
    }
    auto envp = kj::heapArray<const char*>(env.size() + 1);
    for (auto i : kj::indices(env)) envp[i] = env[i].cStr();
    envp[env.size()] = nullptr;

    Pipe stdoutPipe, stderrPipe, errorPipe;
    kj::Maybe<Pipe> stdinPipe;
    int stdinFd;
    kj::AutoCloseFd devNull;
    if (options.stdinBytes.size() > 0) {
      stdinFd = stdinPipe.emplace().read.get();
    } else {
      KJ_SYSCALL(stdinFd = open("/dev/null", O_RDONLY | O_CLOEXEC));
      devNull = kj::AutoCloseFd(stdinFd);
    }
    // Drop privileges only as root: anyone else cannot become another user.
    bool drop = geteuid() == 0 && options.uid >= 0;
    gid_t gid = options.gid >= 0 ? static_cast<gid_t>(options.gid) : getegid();
    uid_t uid = static_cast<uid_t>(options.uid);
    const gid_t* groups = options.groups.begin();
    size_t groupCount = options.groups.size();
    int outFd = stdoutPipe.write.get(), errFd = stderrPipe.write.get();
    int reportFd = errorPipe.write.get();
    const char* file = args[0];

    const ChildPlan plan{file,     args.begin(), envp.begin(), stdinFd, outFd,  errFd,
                         reportFd, drop,         uid,          gid,     groups, groupCount};
    pid_t pid = vfork();
    if (pid == 0) execChild(plan);
    if (pid < 0) KJ_FAIL_SYSCALL("vfork", errno, path);
    // vfork returned: the child has exec'd or exited, so it is unreaped
    // and pidfd_open cannot name another process.
    int fd;
    KJ_SYSCALL_HANDLE_ERRORS(fd = pidfdOpen(pid)) {
      default:
        ::kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        KJ_FAIL_SYSCALL("pidfd_open", error, pid);
    }
    pidfd = kj::AutoCloseFd(fd);
    observer = kj::heap<kj::UnixEventPort::FdObserver>(port, pidfd.get(),
                                                       kj::UnixEventPort::FdObserver::OBSERVE_READ);
    execError = kj::mv(errorPipe.read);
    setNonBlocking(execError.get());
    setNonBlocking(stdoutPipe.read.get());
    setNonBlocking(stderrPipe.read.get());
    out = kj::heap<Reader>(port, kj::mv(stdoutPipe.read), options.maxOutputBytes);
    err = kj::heap<Reader>(port, kj::mv(stderrPipe.read), options.maxOutputBytes);
    KJ_IF_MAYBE (p, stdinPipe) {
      setNonBlocking(p->write.get());
      in = kj::heap<Writer>(port, kj::mv(p->write), kj::mv(options.stdinBytes));
    }
  }

  ChildResult finish() {
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    int rc;
    do {
      rc = waitid(static_cast<idtype_t>(P_PIDFD), pidfd.get(), &info, WEXITED);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) KJ_FAIL_SYSCALL("waitid", errno, path);
    reaped = true;
    reading = nullptr;
    out->drain();
    err->drain();
    if (timedOut) {
      // OVERLOADED: "not now", a slurmctld that does not answer is retried.
      overloaded(
          kj::str(path, " did not finish within ", formatDurationUsec(timeoutUsec), ": killed"));
    }
    ChildResult result;
    result.status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    result.out = out->take();
    result.err = err->take();
    int failed = 0;
    if (read(execError.get(), &failed, sizeof(failed)) == sizeof(failed)) {
      result.status = 127;
      result.err = kj::str("cannot run ", path, ": ", strerror(failed));
    }
    return result;
  }
};

}  // namespace

kj::Promise<ChildResult> runChild(kj::UnixEventPort& port, kj::Timer& timer,
                                  kj::ArrayPtr<const kj::String> argv, ChildOptions options) {
  KJ_REQUIRE(argv.size() > 0, "a command needs at least its program");
  auto child = kj::heap<Child>(port, timer, argv, kj::mv(options));
  auto promise = child->run();
  return promise.attach(kj::mv(child));
}

}  // namespace taskctl
