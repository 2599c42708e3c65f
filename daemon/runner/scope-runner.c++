#include "runner/scope-runner.h"

#include <capnp/message.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/errors.h"

namespace taskctl {

namespace {

// An execution in a scope: the shim's process, with kills sent to the scope.
class ScopeExecution final : public Execution {
 public:
  ScopeExecution(kj::Own<Execution> shim, ScopeManager& scopes, kj::String unit, bool cgroupV2)
      : shim(kj::mv(shim)), scopes(scopes), unit(kj::mv(unit)), cgroupV2(cgroupV2), kills(errors) {}

  int pid() const override { return shim->pid(); }
  uint64_t startTime() const override { return shim->startTime(); }
  kj::StringPtr bootId() const override { return shim->bootId(); }
  void go() override { shim->go(); }
  kj::Promise<void> exited() override { return shim->exited(); }
  kj::Maybe<kj::Own<ExecOutcome>> outcomeFromExit() override { return shim->outcomeFromExit(); }
  bool setsLimits() const override { return true; }
  kj::Promise<void> setLimits(const LiveLimits& limits) override {
    return scopes.setLimits(unit, scopeLimitsFor(limits, cgroupV2));
  }

  kj::Promise<void> pause(bool paused) override {
    int shimPid = shim->pid();
    if (cgroupV2 && scopes.connected()) {
      // systemd's freezer (cgroup.freeze): every process of the scope, the
      // shim too (it reports the end once thawed), forks in flight included.
      auto freeze = scopes.freezeUnit(unit, paused);
      if (paused) return kj::mv(freeze);
      // A thaw also sends SIGCONT: a pause made while the bus was down
      // stopped the processes instead (below).
      return freeze.then([this, shimPid]() { continueCgroupExcept(shimPid, unit); });
    }
    // cgroup v1 (or a hybrid host) has no freezer that systemd drives, and
    // without the bus there is no FreezeUnit: SIGSTOP to every process of
    // the scope's cgroup but the shim, round after round until all stopped.
    if (!paused && scopeFrozen(shimPid, unit)) {
      // systemd froze it, and only systemd may thaw it (a write of our own
      // to cgroup.freeze would leave its FreezerState wrong).
      return KJ_EXCEPTION(DISCONNECTED,
                          "the system bus is gone and systemd froze it; try again once it is back");
    }
    bool done = paused ? stopCgroupExcept(shimPid, unit) : continueCgroupExcept(shimPid, unit);
    if (!done) return KJ_EXCEPTION(FAILED, "its scope has no processes left");
    return kj::READY_NOW;
  }
  void kill(int signal) override {
    if (signal == SIGKILL) {
      // KillUnit would kill the shim too, and with it the attempt's result:
      // kill every other process of the scope's cgroup instead, also those
      // that left the command's session.
      if (killCgroupExcept(shim->pid(), unit, SIGKILL)) return;
    }
    // KillUnit "all" reaches every process in the scope's cgroup, also the
    // shim: it forwards a TERM it gets and reports how the command ended.
    // Without systemd's bus (dbus-daemon restarting, say) a cancel or a
    // timeout must still deliver its TERM, not wait out the grace period for
    // the KILL: then signal the cgroup ourselves, as KillUnit would.
    int shimPid = shim->pid();
    if (!scopes.connected()) {
      signalScope(shimPid, unit, signal);
      return;
    }
    kills.add(scopes.killUnit(unit, signal).catch_([this, shimPid, signal](kj::Exception&& e) {
      if (e.getType() == kj::Exception::Type::DISCONNECTED) {
        signalScope(shimPid, unit, signal);
      } else {
        kj::throwRecoverableException(kj::mv(e));
      }
    }));
  }

 private:
  kj::Own<Execution> shim;
  ScopeManager& scopes;
  kj::String unit;
  bool cgroupV2;
  struct Errors final : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override {
      // The scope may be gone already (the command ended meanwhile).
      KJ_LOG(WARNING, "KillUnit failed", e.getDescription());
    }
  } errors;
  kj::TaskSet kills;
};

}  // namespace

kj::Maybe<kj::String> cgroupDirOf(int pid) {
  auto path = kj::str("/proc/", pid, "/cgroup");
  FILE* f = fopen(path.cStr(), "re");
  if (f == nullptr) return nullptr;
  KJ_DEFER(fclose(f));
  char line[4096];
  kj::Maybe<kj::String> unified, named;
  while (fgets(line, sizeof(line), f) != nullptr) {
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
    kj::StringPtr text(line, n);  // after the newline is cut: the size must not include it
    if (text.startsWith("0::")) unified = kj::str(text.slice(3));
    KJ_IF_MAYBE (colon, text.findFirst(':')) {
      auto rest = text.slice(*colon + 1);
      if (rest.startsWith("name=systemd:")) named = kj::str(rest.slice(13));
    }
  }
  struct stat st;
  KJ_IF_MAYBE (u, unified) {
    // Pure v2, or the unified hierarchy of a hybrid host.
    for (auto base : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      auto dir = kj::str(base, *u);
      if (u->size() > 1 && stat(kj::str(dir, "/cgroup.procs").cStr(), &st) == 0) return kj::mv(dir);
    }
  }
  KJ_IF_MAYBE (n, named) {
    auto dir = kj::str("/sys/fs/cgroup/systemd", *n);
    if (stat(kj::str(dir, "/cgroup.procs").cStr(), &st) == 0) return kj::mv(dir);
  }
  return nullptr;
}

kj::Maybe<kj::String> scopeCgroupOf(int pid, kj::StringPtr unit) {
  // The pid may have exited and been reused by a process of another cgroup:
  // only the attempt's own scope qualifies.
  KJ_IF_MAYBE (dir, cgroupDirOf(pid)) {
    auto last = dir->slice(KJ_ASSERT_NONNULL(dir->findLast('/')) + 1);
    if (last == unit) return kj::mv(*dir);
  }
  return nullptr;
}

namespace {

// One pass over a cgroup's processes: `signal` to each but `keep` (0: none
// kept). The number signalled, or -1 if the cgroup cannot be read (gone).
int signalEach(kj::StringPtr dir, kj::StringPtr unit, int keep, int signal) {
  FILE* f = fopen(kj::str(dir, "/cgroup.procs").cStr(), "re");
  if (f == nullptr) return -1;
  KJ_DEFER(fclose(f));
  int pid, signalled = 0;
  while (fscanf(f, "%d", &pid) == 1) {
    if (pid == keep) continue;
    if (signalMember(pid, unit, signal)) signalled++;
  }
  return signalled;
}

}  // namespace

bool signalMember(int pid, kj::StringPtr unit, int signal) {
  // The pidfd first, the check after: if the signal through it lands, the
  // process lived all along, so the pid was still its own when /proc was
  // read. A pid reused by then fails the check or, if it was reused after
  // it, the pidfd names the old, dead process and the signal goes nowhere.
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return false;  // gone already
  kj::AutoCloseFd pidfd(fd);
  if (scopeCgroupOf(pid, unit) == nullptr) return false;
  return syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) == 0;
}

bool killCgroupExcept(int keep, kj::StringPtr unit, int signal) {
  KJ_IF_MAYBE (dir, scopeCgroupOf(keep, unit)) {
    // Re-read until only `keep` is left: a process may fork while we kill.
    // Bounded: every round kills what it sees with a signal nobody survives.
    for (int round = 0; round < 100; round++) {
      int signalled = signalEach(*dir, unit, keep, signal);
      if (signalled < 0) return round > 0;
      if (signalled == 0) return true;
    }
    return true;
  }
  return false;
}

namespace {

// The process's state letter (field 3 of /proc/<pid>/stat); 0 if it is gone.
char processState(int pid) {
  auto path = kj::str("/proc/", pid, "/stat");
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char* p = strrchr(buf, ')');  // the command name may hold ')'
  return p != nullptr && p[1] == ' ' ? p[2] : 0;
}

// cgroup v2's cgroup.events says "frozen 1": systemd's freezer holds it.
bool cgroupFrozen(kj::StringPtr dir) {
  FILE* f = fopen(kj::str(dir, "/cgroup.events").cStr(), "re");
  if (f == nullptr) return false;  // v1: no such file
  KJ_DEFER(fclose(f));
  char line[64];
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (strcmp(line, "frozen 1\n") == 0) return true;
  }
  return false;
}

}  // namespace

bool stopCgroupExcept(int keep, kj::StringPtr unit) {
  KJ_IF_MAYBE (dir, scopeCgroupOf(keep, unit)) {
    // Frozen already (a daemon restarted without the bus re-adopts a scope
    // FreezeUnit froze): nothing in it runs or forks, and a frozen process
    // would never show as stopped.
    if (cgroupFrozen(*dir)) return true;
    // A process may fork between our read of cgroup.procs and its SIGSTOP
    // (the child joins the cgroup before its parent's fork() returns), so
    // read again until a round finds nobody new and everyone signalled is
    // stopped ('T'), gone or a zombie: a stopped process cannot fork. The
    // bound: 200 rounds, the later ones 1 ms apart (a process in an
    // uninterruptible sleep stops only once it wakes); past it the pause is
    // left as it is, logged, and `resume` still continues everyone.
    kj::Vector<int> signalled;
    for (int round = 0; round < 200; round++) {
      FILE* f = fopen(kj::str(*dir, "/cgroup.procs").cStr(), "re");
      if (f == nullptr) return round > 0;
      bool settled = true;
      int pid;
      while (fscanf(f, "%d", &pid) == 1) {
        if (pid == keep) continue;
        bool seen = false;
        for (int s : signalled) seen = seen || s == pid;
        if (!seen) {
          if (signalMember(pid, unit, SIGSTOP)) signalled.add(pid);
          settled = false;
        } else {
          char state = processState(pid);
          if (state != 0 && state != 'T' && state != 'Z' && state != 'X') settled = false;
        }
      }
      fclose(f);
      if (settled) return true;
      if (round >= 10) usleep(1000);
    }
    KJ_LOG(WARNING, "not every process of the scope stopped in time", unit);
    return true;
  }
  return false;
}

bool scopeFrozen(int member, kj::StringPtr unit) {
  KJ_IF_MAYBE (dir, scopeCgroupOf(member, unit)) return cgroupFrozen(*dir);
  return false;
}

bool continueCgroupExcept(int keep, kj::StringPtr unit) {
  // One pass: stopped processes cannot fork, and one that was not stopped
  // does not need the SIGCONT.
  KJ_IF_MAYBE (dir, scopeCgroupOf(keep, unit)) {
    return signalEach(*dir, unit, keep, SIGCONT) >= 0;
  }
  return false;
}

bool killLostScope(kj::StringPtr unit) {
  struct stat st;
  for (auto base : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}) {
    auto dir = kj::str(base, "/taskctl.slice/", unit);
    if (stat(kj::str(dir, "/cgroup.procs").cStr(), &st) != 0) continue;
    // cgroup v2's cgroup.kill (Linux 5.14): every process at once, forks in
    // flight included, and no pid read here that could be reused meanwhile.
    int fd = open(kj::str(dir, "/cgroup.kill").cStr(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t n;
      do {
        n = write(fd, "1", 1);
      } while (n < 0 && errno == EINTR);
      close(fd);
      if (n == 1) return true;
    }
    // Else (v1, older kernels) as killCgroupExcept does, until none is left.
    for (int round = 0; round < 100; round++) {
      if (signalEach(dir, unit, 0, SIGKILL) <= 0) break;
    }
    return true;
  }
  return false;
}

bool signalScope(int member, kj::StringPtr unit, int signal) {
  // One pass: a TERM may be caught, so there is no "until empty" here.
  KJ_IF_MAYBE (dir, scopeCgroupOf(member, unit)) {
    return signalEach(*dir, unit, 0, signal) >= 0;
  }
  return false;
}

ScopeRequest scopeRequestFor(records::Task::Reader task, uint32_t attempt, int pid, bool cgroupV2) {
  capnp::word scratch[16] = {};
  capnp::MallocMessageBuilder message(scratch);
  auto bare = message.initRoot<records::Attempt>();
  bare.setNumber(attempt);
  return scopeRequestFor(task, bare.asReader(), pid, cgroupV2);
}

ScopeRequest scopeRequestFor(records::Task::Reader task, records::Attempt::Reader attemptRecord,
                             int pid, bool cgroupV2) {
  uint32_t attempt = attemptRecord.getNumber();
  ScopeRequest r;
  r.unit = kj::str("taskctl-", task.getId(), "-", attempt, ".scope");
  r.slice = kj::str("taskctl.slice");
  // What `systemctl status` and the journal show, to every local user: which
  // task, whose, in which queue. Never the command line or the environment,
  // which may carry secrets (`taskctl status` shows them to the owner only).
  kj::StringPtr queue = task.getQueue().size() ? task.getQueue() : "default"_kj;
  r.description = kj::str("taskctl task ", task.getId(), " attempt ", attempt, " (queue ", queue,
                          ", uid ", task.getUid(), ")");
  r.pid = pid;
  auto limits = task.getLimits();
  r.cpuQuotaPerSecUsec = limits.getCpuQuotaPerSecUsec();
  // The attempt's own memory limit and timeout: a retry may have grown them.
  r.memoryMaxBytes = attemptMemoryMaxBytes(task, attemptRecord);
  r.memorySwapMaxZero = cgroupV2 && r.memoryMaxBytes > 0;
  r.tasksMax = limits.getTasksMax();
  // No RuntimeMaxUSec backstop: the daemon's own timer is the only one. A
  // task may move its deadline with EXTEND_TIMEOUT_USEC= (up to the queue's
  // max_timeout, else a year from its start), `taskctl update` may move it
  // (root past any maximum), and a retry may grow it; a backstop that covers
  // the furthest deadline would be a year, no backstop in practice. A
  // timed-out attempt whose daemon was down is ended when the daemon
  // re-adopts it (docs/design-notes.md).
  r.runtimeMaxUsec = 0;
  return r;
}

ScopeLimits scopeLimitsFor(const LiveLimits& limits, bool cgroupV2) {
  ScopeLimits r;
  r.cpuQuotaPerSecUsec = limits.cpuQuotaPerSecUsec;
  // MemoryMax on either hierarchy: systemd writes it to memory.max on
  // cgroup v2 and to memory.limit_in_bytes on v1 (the hybrid test
  // container), as it does at the scope's start. MemorySwapMax exists only
  // on v2: set again, so a scope that started without a memory limit does
  // not push into swap once it has one.
  r.memoryMaxBytes = limits.memoryMaxBytes;
  r.memorySwapMaxZero = cgroupV2 && limits.memoryMaxBytes > 0;
  r.tasksMax = limits.tasksMax;
  return r;
}

void ScopeRunner::LogErrors::taskFailed(kj::Exception&& exception) {
  KJ_LOG(WARNING, "stopping a lost attempt's scope failed", exception.getDescription());
}

ScopeRunner::ScopeRunner(ShimLauncher& launcher, ScopeManager& scopes, bool cgroupV2)
    : launcher(launcher), scopes(scopes), cgroupV2(cgroupV2), stops(logErrors) {}

kj::String ScopeRunner::unitFor(uint64_t taskId, uint32_t attempt) {
  return kj::str("taskctl-", taskId, "-", attempt, ".scope");
}

kj::Promise<kj::Own<Execution>> ScopeRunner::start(records::Task::Reader task,
                                                   records::Attempt::Reader attempt) {
  kj::Own<Execution> shim = launcher.spawn(task, attempt);
  auto request = scopeRequestFor(task, attempt, shim->pid(), cgroupV2);
  return scopes.startScope(request)
      .then([]() -> kj::Maybe<kj::Exception> { return nullptr; },
            [](kj::Exception&& e) -> kj::Maybe<kj::Exception> { return kj::mv(e); })
      .then([this, shim = kj::mv(shim), unit = kj::mv(request.unit)](
                kj::Maybe<kj::Exception> refused) mutable -> kj::Promise<kj::Own<Execution>> {
        KJ_IF_MAYBE (e, refused) {
          // The shim was never told to go: no user code ran. End it and reap
          // it before reporting the refusal (recorded as `spawn`), or, if the
          // bus went away (DISCONNECTED, kept as is), before the scheduler
          // requeues the attempt.
          shim->kill(SIGKILL);
          auto exited = shim->exited();
          return exited.attach(kj::mv(shim)).then([e = kj::mv(*e)]() mutable -> kj::Own<Execution> {
            rethrow(kj::mv(e));
          });
        }
        return kj::Own<Execution>(
            kj::heap<ScopeExecution>(kj::mv(shim), scopes, kj::mv(unit), cgroupV2));
      });
}

kj::Maybe<kj::Own<Execution>> ScopeRunner::adopt(records::Attempt::Reader attempt) {
  KJ_IF_MAYBE (shim, launcher.adopt(attempt)) {
    return kj::Own<Execution>(
        kj::heap<ScopeExecution>(kj::mv(*shim), scopes, kj::str(attempt.getUnit()), cgroupV2));
  }
  return nullptr;
}

kj::Maybe<kj::Own<ExecOutcome>> ScopeRunner::readOutcome(uint64_t taskId, uint32_t attempt) {
  return launcher.readOutcome(taskId, attempt);
}

void ScopeRunner::stopRemains(records::Attempt::Reader attempt) {
  if (attempt.getUnit().size() == 0) return;
  // Killed here and now, before the caller can schedule a retry: StopUnit
  // is asynchronous and only sends SIGTERM, and what ignores that would run
  // beside the retry until systemd's stop timeout (90 s by default).
  killLostScope(attempt.getUnit());
  // Then the unit itself goes (systemd would keep a scope with processes).
  stops.add(stopWhenConnected(kj::str(attempt.getUnit())));
}

kj::Promise<void> ScopeRunner::stopWhenConnected(kj::String unit) {
  // At startup (recovery finds lost attempts) the bus and systemd on it may
  // not be back yet, and a bus restart can cut the call off: a lost
  // attempt's remains must be stopped all the same, never run beside a retry.
  return scopes.whenConnected().then([this, unit = kj::mv(unit)]() mutable {
    auto name = kj::str(unit);
    return scopes.stopUnit(name).catch_(
        [this, unit = kj::mv(unit)](kj::Exception&& e) mutable -> kj::Promise<void> {
          if (e.getType() == kj::Exception::Type::DISCONNECTED) {
            return stopWhenConnected(kj::mv(unit));
          }
          return kj::mv(e);
        });
  });
}

void ScopeRunner::release(uint64_t taskId, uint32_t attempt) { launcher.release(taskId, attempt); }

kj::String ScopeRunner::logPath(uint64_t taskId, uint32_t attempt) {
  return launcher.logPath(taskId, attempt);
}

}  // namespace taskctl
