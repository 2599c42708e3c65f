// stopSession against real processes: a session led by a child of the test
// (as the shim is the daemon's), with members in the leader's group and in
// groups of their own (a job-control shell's).
#include "runner/stop-session.h"

#include <dirent.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/runner.h"

namespace taskctl {
namespace {

// The live (not zombie) processes of session `sid`, from /proc.
kj::Vector<int> liveMembers(int sid) {
  kj::Vector<int> members;
  DIR* proc = opendir("/proc");
  KJ_ASSERT(proc != nullptr);
  while (struct dirent* entry = readdir(proc)) {
    int pid = atoi(entry->d_name);
    if (pid <= 0) continue;
    KJ_IF_MAYBE (stat, readProcStat(pid)) {
      if (stat->sid == sid && stat->state != 'Z' && stat->state != 'X') members.add(pid);
    }
  }
  closedir(proc);
  return members;
}

// Whether session `sid` has no live member left, within 5 s (SIGKILL takes
// effect at once, but an exit is not instant).
bool emptiesSoon(int sid) {
  for (int i = 0; i < 500; i++) {
    if (liveMembers(sid).size() == 0) return true;
    usleep(10000);
  }
  return false;
}

// A session of its own: a leader (as the shim leads its session) with two
// members in its group and two in groups of their own (as a job-control
// shell makes). Members are cleaned up with the fixture whatever the test
// did.
class Session : public testing::Test {
 protected:
  int leader = 0;
  uint64_t leaderStart = 0;

  void SetUp() override {
    int ready[2];
    KJ_SYSCALL(pipe(ready));
    leader = fork();
    KJ_ASSERT(leader >= 0);
    if (leader == 0) {
      // Only system calls from here on: this is a fork of the test.
      setsid();
      for (int i = 0; i < 4; i++) {
        if (fork() == 0) {
          if (i >= 2) setpgid(0, 0);
          close(ready[0]);
          close(ready[1]);
          for (;;) pause();
        }
      }
      close(ready[0]);
      close(ready[1]);
      for (;;) pause();
    }
    close(ready[1]);
    leaderStart = KJ_ASSERT_NONNULL(processStartTime(leader));
    // EOF once the leader and every member are set up.
    char byte;
    while (read(ready[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(ready[0]);
  }

  void TearDown() override {
    if (leader > 0) {
      for (int pid : liveMembers(leader)) kill(pid, SIGKILL);
      reapLeader();
    }
  }

  // The leader gone, as a killed shim is: its session lives on in its members.
  void killLeader() {
    KJ_SYSCALL(kill(leader, SIGKILL));
    reapLeader();
  }

  void reapLeader() {
    if (leaderReaped) return;
    int status;
    waitpid(leader, &status, 0);
    leaderReaped = true;
  }

 private:
  bool leaderReaped = false;
};

TEST_F(Session, ReadsTheStatFieldsThatIdentifyAMember) {
  auto stat = KJ_ASSERT_NONNULL(readProcStat(leader));
  EXPECT_EQ(stat.sid, leader);
  EXPECT_EQ(stat.pgid, leader);
  EXPECT_EQ(stat.startTime, leaderStart);
  int ownGroups = 0;
  for (int member : liveMembers(leader)) {
    auto memberStat = KJ_ASSERT_NONNULL(readProcStat(member));
    if (memberStat.pgid == member) ownGroups++;
  }
  EXPECT_EQ(ownGroups, 3) << "the leader and two members lead groups";
  auto self = KJ_ASSERT_NONNULL(readProcStat(getpid()));
  EXPECT_EQ(self.sid, getsid(0));
  EXPECT_EQ(self.pgid, getpgrp());
  EXPECT_TRUE(readProcStat(0x3fffffff) == nullptr);
}

TEST(ReadProcStat, ReadsAStatWhoseCommandNameHoldsParenthesesAndSpaces) {
  int pipeFds[2];
  KJ_SYSCALL(pipe(pipeFds));
  pid_t child = fork();
  KJ_ASSERT(child >= 0);
  if (child == 0) {
    prctl(PR_SET_NAME, "a) R 1 2 (b", 0, 0, 0);
    close(pipeFds[0]);
    close(pipeFds[1]);
    pause();
    _exit(0);
  }
  close(pipeFds[1]);
  char byte;
  (void)!read(pipeFds[0], &byte, 1);  // EOF once the name is set
  close(pipeFds[0]);
  auto stat = KJ_ASSERT_NONNULL(readProcStat(child));
  uint64_t start = KJ_ASSERT_NONNULL(processStartTime(child));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // Running or already in pause(): the fields after the name parse either way.
  EXPECT_TRUE(stat.state == 'S' || stat.state == 'R') << stat.state;
  EXPECT_EQ(stat.sid, getsid(0));
  EXPECT_EQ(stat.pgid, getpgrp());
  EXPECT_EQ(stat.startTime, start);
}

TEST_F(Session, StopsEveryMemberOnceTheLeaderIsGone) {
  ASSERT_EQ(liveMembers(leader).size(), 5u);
  killLeader();
  ASSERT_EQ(liveMembers(leader).size(), 4u) << "the members died with their leader";
  EXPECT_EQ(stopSession(leader, leaderStart), 4u);
  EXPECT_TRUE(emptiesSoon(leader)) << liveMembers(leader).size() << " members survived";
}

TEST_F(Session, StopsALeaderThatStillRunsWithItsMembers) {
  EXPECT_EQ(stopSession(leader, leaderStart), 5u);
  EXPECT_TRUE(emptiesSoon(leader)) << liveMembers(leader).size() << " members survived";
}

TEST_F(Session, SignalsNothingWhenThePidBelongsToAnotherProcess) {
  // A live process with the session's id but another start time: the id was
  // reused, so the session it named is gone.
  EXPECT_EQ(stopSession(leader, leaderStart - 1), 0u);
  EXPECT_EQ(liveMembers(leader).size(), 5u);
}

TEST_F(Session, LeavesMembersOlderThanTheLeader) {
  // Members that started before the recorded leader belong to another
  // session of that id.
  killLeader();
  EXPECT_EQ(stopSession(leader, leaderStart + 1000000), 0u);
  EXPECT_EQ(liveMembers(leader).size(), 4u);
}

TEST(StopSession, SignalsNothingForAnEmptySession) {
  pid_t child = fork();
  KJ_ASSERT(child >= 0);
  if (child == 0) _exit(0);
  uint64_t start = KJ_ASSERT_NONNULL(processStartTime(child));
  waitpid(child, nullptr, 0);
  EXPECT_EQ(stopSession(child, start), 0u);
  EXPECT_EQ(stopSession(1, 0), 0u);
  EXPECT_EQ(stopSession(0, 0), 0u);
}

}  // namespace
}  // namespace taskctl
