#include <capnp/message.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runner/scope-runner.h"
#include "runner/shim-launcher.h"

namespace taskctl {
namespace {

// Field 22 of /proc/self/stat, read independently of the code under test.
uint64_t startTimeByHand() {
  std::ifstream in("/proc/self/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(all.substr(all.rfind(')') + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return std::stoull(fields[22 - 3]);  // fields[0] is field 3
}

TEST(ProcessStartTime, IsField22AndDoesNotMoveWithMemory) {
  uint64_t before = processStartTime(getpid()).orDefault(0);
  EXPECT_EQ(before, startTimeByHand());
  // vsize (field 23) changes with allocations; the start time must not.
  std::vector<char> big(64 << 20, 1);
  EXPECT_EQ(processStartTime(getpid()).orDefault(1), before);
  EXPECT_TRUE(processStartTime(0x3fffffff) == nullptr);
}

TEST(CgroupDir, IsTheDirectoryThatListsTheProcess) {
  // Wherever this test runs (v1, hybrid or v2), if a directory is found it
  // must be one whose cgroup.procs lists us.
  KJ_IF_MAYBE (dir, cgroupDirOf(getpid())) {
    std::ifstream procs(std::string(dir->cStr()) + "/cgroup.procs");
    ASSERT_TRUE(procs.good()) << dir->cStr();
    bool listed = false;
    for (int pid; procs >> pid;) listed = listed || pid == getpid();
    EXPECT_TRUE(listed) << dir->cStr();
    EXPECT_EQ(strlen(dir->cStr()), dir->size()) << "no NUL inside the path";
  }
}

TEST(ScopeCgroup, IsOnlyTheNamedScope) {
  // A kill aimed at an attempt's scope through a pid that has since been
  // reused must not reach the new owner's cgroup (here: this test's own).
  EXPECT_TRUE(scopeCgroupOf(getpid(), "taskctl-999999-1.scope") == nullptr);
  EXPECT_FALSE(signalScope(getpid(), "taskctl-999999-1.scope", SIGTERM));
  EXPECT_FALSE(killCgroupExcept(getpid(), "taskctl-999999-1.scope", SIGKILL));
  KJ_IF_MAYBE (dir, cgroupDirOf(getpid())) {
    kj::StringPtr own = dir->slice(KJ_ASSERT_NONNULL(dir->findLast('/')) + 1);
    KJ_IF_MAYBE (same, scopeCgroupOf(getpid(), own)) {
      EXPECT_EQ(*same, *dir);
    } else {
      ADD_FAILURE() << "its own cgroup " << dir->cStr() << " was not recognised";
    }
  }
}

TEST(ScopeRequest, CarriesTheLimitsAndNoRuntimeBackstop) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  task.setId(7);
  auto argv = task.initArgv(2);
  argv.set(0, "sleep"_kj.asBytes());
  argv.set(1, "5"_kj.asBytes());
  auto limits = task.initLimits();
  limits.setCpuQuotaPerSecUsec(200000);
  limits.setMemoryMaxBytes(20 << 20);
  limits.setTasksMax(10);
  limits.setTimeoutUsec(2000000);
  limits.setKillGraceUsec(1000000);
  auto v2 = scopeRequestFor(task, 3, 1234, true);
  EXPECT_EQ(v2.unit, "taskctl-7-3.scope");
  EXPECT_EQ(v2.slice, "taskctl.slice");
  EXPECT_EQ(v2.pid, 1234);
  EXPECT_EQ(v2.cpuQuotaPerSecUsec, 200000u);
  EXPECT_EQ(v2.memoryMaxBytes, 20u << 20);
  EXPECT_TRUE(v2.memorySwapMaxZero);
  EXPECT_EQ(v2.tasksMax, 10u);
  // No backstop: EXTEND_TIMEOUT_USEC= may move the deadline past any the
  // scope was started with, and only the daemon's timer moves with it.
  EXPECT_EQ(v2.runtimeMaxUsec, 0u);
  EXPECT_FALSE(scopeRequestFor(task, 3, 1234, false).memorySwapMaxZero);  // v1: no swap knob
}

TEST(ScopeRequest, TakesTheAttemptsOwnLimits) {
  // A retry that grew the memory limit or the timeout (RetryPolicy) starts
  // its scope with the attempt's, not the task's first ones.
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  task.setId(7);
  auto limits = task.initLimits();
  limits.setMemoryMaxBytes(50 << 20);
  limits.setTimeoutUsec(1000000);
  limits.setKillGraceUsec(1000000);
  capnp::MallocMessageBuilder attemptMessage;
  auto attempt = attemptMessage.initRoot<records::Attempt>();
  attempt.setNumber(2);
  attempt.setMemoryMaxBytes(100 << 20);
  attempt.setTimeoutUsec(2000000);
  auto r = scopeRequestFor(task, attempt.asReader(), 1234, true);
  EXPECT_EQ(r.unit, "taskctl-7-2.scope");
  EXPECT_EQ(r.memoryMaxBytes, 100u << 20);
  EXPECT_EQ(r.runtimeMaxUsec, 0u);  // no backstop: the daemon's timer is the only one
  // An attempt stored before attempts kept limits: the task's.
  attempt.setMemoryMaxBytes(0);
  attempt.setTimeoutUsec(0);
  EXPECT_EQ(scopeRequestFor(task, attempt.asReader(), 1234, true).memoryMaxBytes, 50u << 20);
}

TEST(ScopeLimits, UpdateSetsOnlyWhatIsGivenAndNoSwapOnCgroupV1) {
  LiveLimits limits;
  limits.memoryMaxBytes = 4ull << 30;
  auto v2 = scopeLimitsFor(limits, true);
  EXPECT_EQ(v2.memoryMaxBytes, 4ull << 30);
  EXPECT_TRUE(v2.memorySwapMaxZero);  // a scope that had no limit must not push into swap
  EXPECT_EQ(v2.cpuQuotaPerSecUsec, 0u);
  EXPECT_EQ(v2.tasksMax, 0u);
  EXPECT_FALSE(scopeLimitsFor(limits, false).memorySwapMaxZero);  // v1: no such property
  LiveLimits cpu;
  cpu.cpuQuotaPerSecUsec = 1500000;
  EXPECT_FALSE(scopeLimitsFor(cpu, true).memorySwapMaxZero);
  EXPECT_EQ(scopeLimitsFor(cpu, true).cpuQuotaPerSecUsec, 1500000u);
}

TEST(ScopeRequest, DescriptionNamesTheTaskNotItsCommand) {
  // Every local user reads a scope's Description= (systemctl, the journal):
  // the task, its queue and its owner, never argv (which may hold a secret).
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  task.setId(12);
  task.setUid(1000);
  task.setQueue("nightly");
  auto argv = task.initArgv(3);
  argv.set(0, "mysql"_kj.asBytes());
  argv.set(1, "--password=hunter2"_kj.asBytes());
  argv.set(2, kj::str(kj::repeat('x', 300)).asBytes());
  std::string text = scopeRequestFor(task, 1, 1234, true).description.cStr();
  EXPECT_EQ(text, "taskctl task 12 attempt 1 (queue nightly, uid 1000)");
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(text.find("mysql"), std::string::npos);
}

// --- signals that must reach only the process they aim at ------------------

// A child of this test that waits to be killed: in its own process group
// when `leader` (as a task's command is).
pid_t idleChild(bool leader) {
  pid_t pid = fork();
  KJ_ASSERT(pid >= 0);
  if (pid == 0) {
    if (leader) setpgid(0, 0);
    for (;;) pause();
  }
  if (leader) setpgid(pid, pid);  // both sides: set before either goes on
  return pid;
}

// Whether `pid` is gone (or a zombie) within `ms`. Reaps it if it is ours.
bool goneWithin(pid_t pid, int ms) {
  for (int waited = 0; waited <= ms; waited += 10) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    if (all.empty() || all[all.rfind(')') + 2] == 'Z') return true;
    struct timespec tenMs = {0, 10'000'000};
    nanosleep(&tenMs, nullptr);
  }
  return false;
}

void killAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

int pidfdOf(pid_t pid) {
  int fd = syscall(SYS_pidfd_open, pid, 0);
  KJ_ASSERT(fd >= 0, "pidfd_open", errno);
  return fd;
}

TEST(ParentOf, IsField4) {
  EXPECT_EQ(parentOf(getpid()).orDefault(-1), getppid());
  EXPECT_TRUE(parentOf(0x3fffffff) == nullptr);
}

TEST(ShimKill, APidThatIsNoLongerTheShimsChildIsLeftAlone) {
  // The SIGKILL path reads the shim's child from /proc, then signals it. If
  // the command ended meanwhile and its pid went to another process (here a
  // group leader that is none of the shim's), that process must survive.
  pid_t shim = idleChild(false);
  pid_t stranger = idleChild(true);
  kj::AutoCloseFd shimFd(pidfdOf(shim));
  EXPECT_FALSE(signalShimChild(shim, shimFd.get(), stranger, SIGKILL));
  EXPECT_FALSE(goneWithin(stranger, 200)) << "a pid that is not the shim's child was killed";
  killAndReap(stranger);
  killAndReap(shim);
}

TEST(ShimKill, KillsTheCommandAndItsGroupButNotTheShim) {
  // A fake shim: one child, the command, leading its own group, with a
  // second process in that group.
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t shim = fork();
  ASSERT_GE(shim, 0);
  if (shim == 0) {
    pid_t command = fork();
    if (command == 0) {
      setpgid(0, 0);
      pid_t member = fork();
      if (member == 0) {
        for (;;) pause();
      }
      pid_t pids[2] = {getpid(), member};
      if (write(report[1], pids, sizeof(pids)) != sizeof(pids)) _exit(1);
      for (;;) pause();
    }
    setpgid(command, command);
    waitpid(command, nullptr, 0);  // as the real shim reaps its command
    for (;;) pause();
  }
  close(report[1]);
  pid_t pids[2] = {0, 0};
  ASSERT_EQ(read(report[0], pids, sizeof(pids)), ssize_t(sizeof(pids)));
  close(report[0]);
  kj::AutoCloseFd shimFd(pidfdOf(shim));
  EXPECT_TRUE(signalCommandOf(shim, shimFd.get(), SIGKILL));
  EXPECT_TRUE(goneWithin(pids[0], 2000)) << "the command survived";
  EXPECT_TRUE(goneWithin(pids[1], 2000)) << "its process group survived";
  EXPECT_FALSE(goneWithin(shim, 100)) << "the shim was killed (and its result lost)";
  // Now the shim has no child: nothing to signal, the caller signals the shim.
  EXPECT_FALSE(signalCommandOf(shim, shimFd.get(), SIGKILL));
  EXPECT_FALSE(goneWithin(shim, 100));
  kill(pids[1], SIGKILL);  // in case it survived (a failure above)
  killAndReap(shim);
}

TEST(ScopeKill, APidNoLongerInTheScopeIsLeftAlone) {
  // killCgroupExcept and signalScope read pids from the scope's cgroup.procs
  // and signal them: one that has since gone elsewhere (a reused pid) must
  // not be hit.
  pid_t elsewhere = idleChild(false);
  EXPECT_FALSE(signalMember(elsewhere, "taskctl-999999-1.scope", SIGKILL));
  EXPECT_FALSE(goneWithin(elsewhere, 200)) << "a process of another cgroup was killed";
  // While one that is in the named cgroup is signalled.
  KJ_IF_MAYBE (dir, cgroupDirOf(elsewhere)) {
    kj::StringPtr own = dir->slice(KJ_ASSERT_NONNULL(dir->findLast('/')) + 1);
    if (own.size() > 0) {
      EXPECT_TRUE(signalMember(elsewhere, own, SIGKILL));
      EXPECT_TRUE(goneWithin(elsewhere, 2000));
    }
  }
  killAndReap(elsewhere);
}

}  // namespace
}  // namespace taskctl
