#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <gtest/gtest.h>

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
  KJ_IF_MAYBE(dir, cgroupDirOf(getpid())) {
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
  KJ_IF_MAYBE(dir, cgroupDirOf(getpid())) {
    kj::StringPtr own = dir->slice(KJ_ASSERT_NONNULL(dir->findLast('/')) + 1);
    KJ_IF_MAYBE(same, scopeCgroupOf(getpid(), own)) {
      EXPECT_EQ(*same, *dir);
    } else {
      ADD_FAILURE() << "its own cgroup " << dir->cStr() << " was not recognised";
    }
  }
}

TEST(ScopeRequest, CarriesTheLimitsAndABackstop) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<records::Task>();
  task.setId(7);
  auto argv = task.initArgv(2);
  argv.set(0, "sleep"_kj.asBytes());
  argv.set(1, "5"_kj.asBytes());
  task.setCpuQuotaPerSecUsec(200000);
  task.setMemoryMaxBytes(20 << 20);
  task.setTasksMax(10);
  task.setTimeoutUsec(2000000);
  task.setKillGraceUsec(1000000);
  auto v2 = scopeRequestFor(task, 3, 1234, true);
  EXPECT_EQ(v2.unit, "taskctl-7-3.scope");
  EXPECT_EQ(v2.slice, "taskctl.slice");
  EXPECT_EQ(v2.pid, 1234);
  EXPECT_EQ(v2.cpuQuotaPerSecUsec, 200000u);
  EXPECT_EQ(v2.memoryMaxBytes, 20u << 20);
  EXPECT_TRUE(v2.memorySwapMaxZero);
  EXPECT_EQ(v2.tasksMax, 10u);
  EXPECT_EQ(v2.runtimeMaxUsec, 2000000u + 1000000u + 30000000u);
  EXPECT_FALSE(scopeRequestFor(task, 3, 1234, false).memorySwapMaxZero);  // v1: no swap knob
  task.setTimeoutUsec(0);
  EXPECT_EQ(scopeRequestFor(task, 3, 1234, true).runtimeMaxUsec, 0u);
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

}  // namespace
}  // namespace taskctl
