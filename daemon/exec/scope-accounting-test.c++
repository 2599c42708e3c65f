#include "exec/scope-accounting.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <stdlib.h>
#include <unistd.h>

#include "temp-dir.h"

namespace taskctl {
namespace {

// A fake /proc/self/cgroup and cgroup tree under a temp dir.
struct FakeCgroups : TempDir {
  FakeCgroups() : TempDir("cgroup-test") {}

  void write(kj::StringPtr name, kj::StringPtr text) {
    auto file = kj::str(path, '/', name);
    KJ_ASSERT(system(kj::str("mkdir -p \"$(dirname '", file, "')\"").cStr()) == 0);
    int fd;
    KJ_SYSCALL(fd = open(file.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), file);
    kj::AutoCloseFd f(fd);
    kj::FdOutputStream(f.get()).write(text.begin(), text.size());
  }

  kj::Maybe<ScopeAccounting> read(kj::StringPtr scope) {
    return readScopeAccounting(scope, kj::str(path, "/proc-self-cgroup"), kj::str(path, "/cg"));
  }
};

TEST(ExecScopeAccounting, ReadsPeakAndOomKillsOnCgroupV2) {
  FakeCgroups fake;
  fake.write("proc-self-cgroup", "0::/taskctl.slice/taskctl-5-2.scope\n");
  fake.write("cg/taskctl.slice/taskctl-5-2.scope/memory.peak", "123456789\n");
  fake.write("cg/taskctl.slice/taskctl-5-2.scope/memory.events",
             "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\noom_group_kill 0\n");
  auto accounting = KJ_ASSERT_NONNULL(fake.read("taskctl-5-2.scope"));
  EXPECT_EQ(KJ_ASSERT_NONNULL(accounting.peakMemoryBytes), 123456789u);
  EXPECT_EQ(accounting.oomKills, 2u);
}

TEST(ExecScopeAccounting, ReadsPeakAndOomKillsOnCgroupV1) {
  FakeCgroups fake;
  fake.write("proc-self-cgroup",
             "5:memory:/taskctl.slice/taskctl-5-2.scope\n"
             "1:name=systemd:/taskctl.slice/taskctl-5-2.scope\n"
             "0::/taskctl.slice/taskctl-5-2.scope\n");
  fake.write("cg/memory/taskctl.slice/taskctl-5-2.scope/memory.max_usage_in_bytes", "4096\n");
  fake.write("cg/memory/taskctl.slice/taskctl-5-2.scope/memory.oom_control",
             "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  auto accounting = KJ_ASSERT_NONNULL(fake.read("taskctl-5-2.scope"));
  EXPECT_EQ(KJ_ASSERT_NONNULL(accounting.peakMemoryBytes), 4096u);
  EXPECT_EQ(accounting.oomKills, 1u);
}

TEST(ExecScopeAccounting, IgnoresACgroupThatIsNotTheAttemptsScope) {
  FakeCgroups fake;
  // The direct runner: the shim is in the daemon's service cgroup.
  fake.write("proc-self-cgroup", "0::/system.slice/taskctld.service\n");
  fake.write("cg/system.slice/taskctld.service/memory.peak", "999\n");
  EXPECT_TRUE(fake.read("taskctl-5-2.scope") == nullptr);
  // Nor another attempt's scope.
  fake.write("proc-self-cgroup", "0::/taskctl.slice/taskctl-5-1.scope\n");
  fake.write("cg/taskctl.slice/taskctl-5-1.scope/memory.peak", "999\n");
  EXPECT_TRUE(fake.read("taskctl-5-2.scope") == nullptr);
  EXPECT_TRUE(fake.read("ctl-5-1.scope") == nullptr);
}

TEST(ExecScopeAccounting, IsNullWithoutAMemoryController) {
  FakeCgroups fake;
  fake.write("proc-self-cgroup", "0::/taskctl.slice/taskctl-5-2.scope\n");
  KJ_ASSERT(system(kj::str("mkdir -p ", fake.path, "/cg/taskctl.slice/taskctl-5-2.scope").cStr()) ==
            0);
  EXPECT_TRUE(fake.read("taskctl-5-2.scope") == nullptr);
}

TEST(ExecScopeAccounting, IsNullWithoutProc) {
  FakeCgroups fake;
  EXPECT_TRUE(fake.read("taskctl-5-2.scope") == nullptr);
}

}  // namespace
}  // namespace taskctl
