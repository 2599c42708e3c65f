// Runs the built taskctl-exec as the daemon does (posix_spawn, a new session,
// the spec on a memfd, a go pipe) and checks the result file and the log.
// The spawn deliberately leaves SIGTERM blocked, SIGPIPE ignored (test main)
// and stray fds open: cleaning up after the daemon is the shim's job.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/function.h>
#include <kj/io.h>
#include <kj/vector.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <initializer_list>
#include <set>

#include "exec/result-file.h"
#include "exec/shim-exit.h"
#include "exec/spawn-command.h"
#include "temp-dir.h"

extern char** environ;

namespace taskctl {
namespace {

kj::Maybe<kj::String> readFile(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  kj::AutoCloseFd file(fd);
  return kj::FdInputStream(file.get()).readAllText();
}

void writeFile(kj::StringPtr path, kj::StringPtr text, mode_t mode) {
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode), path);
  kj::AutoCloseFd file(fd);
  kj::FdOutputStream(file.get()).write(text.begin(), text.size());
}

bool exists(kj::StringPtr path) { return access(path.cStr(), F_OK) == 0; }

capnp::Data::Reader bytes(kj::StringPtr s) { return s.asBytes(); }

void setList(capnp::List<capnp::Data>::Builder list, std::initializer_list<kj::StringPtr> items) {
  uint i = 0;
  for (auto item : items) list.set(i++, bytes(item));
}

// Moves a new fd far above 0-4 so the spawn's dup2s onto 3 and 4 cannot clobber it.
int highFd(int fd) {
  int high;
  KJ_SYSCALL(high = fcntl(fd, F_DUPFD_CLOEXEC, 100));
  close(fd);
  return high;
}

int64_t monotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Whether `pid` is gone (or a zombie nobody reaped yet), within 5 s.
bool ends(pid_t pid) {
  for (int i = 0; i < 500; i++) {
    auto stat = readFile(kj::str("/proc/", pid, "/stat"));
    KJ_IF_MAYBE (text, stat) {
      KJ_IF_MAYBE (paren, text->findLast(')')) {
        if ((*text)[*paren + 2] == 'Z') return true;
      }
    } else {
      return true;
    }
    usleep(10000);
  }
  return false;
}

// The live (not zombie) processes of process group `group`, from /proc.
kj::Vector<pid_t> groupMembers(pid_t group) {
  KJ_ASSERT(group > 1);
  kj::Vector<pid_t> members;
  DIR* proc = opendir("/proc");
  KJ_ASSERT(proc != nullptr);
  while (struct dirent* entry = readdir(proc)) {
    int pid = atoi(entry->d_name);
    if (pid <= 0) continue;
    KJ_IF_MAYBE (text, readFile(kj::str("/proc/", pid, "/stat"))) {
      // After "pid (comm) ": state, ppid, pgrp.
      KJ_IF_MAYBE (paren, text->findLast(')')) {
        char state;
        int ppid, pgrp;
        if (sscanf(text->cStr() + *paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 &&
            pgrp == group && state != 'Z') {
          members.add(pid);
        }
      }
    }
  }
  closedir(proc);
  return members;
}

class ExecShim : public testing::Test {
 protected:
  TempDir dir;
  capnp::MallocMessageBuilder specMessage;
  records::ExecSpec::Builder spec = specMessage.initRoot<records::ExecSpec>();
  kj::String logPath = dir / "attempt.log";
  kj::String resultPath = dir / "attempt.result";
  kj::Maybe<kj::Own<capnp::MessageReader>> resultMessage;

  ExecShim() {
    spec.setTaskId(42);
    spec.setAttempt(3);
    spec.setUid(getuid());
    spec.setGid(getgid());
    spec.setCwd(bytes(dir.path));
    spec.setUmask(022);
    spec.setLogPath(logPath);
    spec.setResultPath(resultPath);
    environment({"PATH=/usr/bin:/bin"});
  }
  // Capnp's destructors may throw; a test fixture's may not.
  ~ExecShim() noexcept override {}

  void command(std::initializer_list<kj::StringPtr> argv) {
    setList(spec.initArgv(argv.size()), argv);
  }
  void environment(std::initializer_list<kj::StringPtr> env) {
    setList(spec.initEnv(env.size()), env);
  }

  // Spawns the shim, sends go (or closes the go pipe unwritten) and waits for
  // it. Returns the shim's wait status. `whileRunning` runs after go.
  int runShim(bool go = true, kj::Maybe<kj::StringPtr> rawSpec = nullptr,
              kj::Maybe<kj::Function<void(pid_t)>> whileRunning = nullptr) {
    int specFd = highFd(memfd_create("spec", MFD_CLOEXEC));
    KJ_IF_MAYBE (raw, rawSpec) {
      kj::FdOutputStream(specFd).write(raw->begin(), raw->size());
    } else {
      // Left with its offset at the end: the shim must read from 0.
      capnp::writeMessageToFd(specFd, specMessage);
    }
    int goPipe[2];
    KJ_SYSCALL(pipe2(goPipe, O_CLOEXEC));
    int goRead = highFd(goPipe[0]);
    int goWrite = highFd(goPipe[1]);
    // A stray fd a careless daemon might leak (not CLOEXEC).
    int stray;
    KJ_SYSCALL(stray = open("/dev/null", O_RDONLY));

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // Not /dev/null, unlike the daemon: the command's stdin must be the shim's doing.
    auto shimStdin = dir / "shim-stdin";
    writeFile(shimStdin, "the shim's stdin\n", 0644);
    posix_spawn_file_actions_addopen(&actions, 0, shimStdin.cStr(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, goRead, 3);
    posix_spawn_file_actions_adddup2(&actions, specFd, 4);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // SETSID only: no SETSIGMASK, no SETSIGDEF, so the blocked SIGTERM and the
    // ignored SIGPIPE reach the shim, which must not pass them on.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    sigset_t term, saved;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    KJ_ASSERT(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    KJ_ASSERT(sigprocmask(SIG_BLOCK, &term, &saved) == 0);
    const char* argv[] = {TASKCTL_EXEC_PATH, "--go-fd", "3", "--spec-fd", "4", nullptr};
    pid_t pid;
    int error =
        posix_spawn(&pid, TASKCTL_EXEC_PATH, &actions, &attr, const_cast<char**>(argv), environ);
    KJ_ASSERT(sigprocmask(SIG_SETMASK, &saved, nullptr) == 0);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(stray);
    close(specFd);
    close(goRead);
    KJ_ASSERT(error == 0, strerror(error));

    // Unchecked: a shim that refused its spec has already closed its end.
    if (go) (void)!write(goWrite, "g", 1);
    close(goWrite);
    KJ_IF_MAYBE (f, whileRunning) {
      (*f)(pid);
    }

    int status = waitWithDeadline(pid);
    resultMessage = readExecResult(resultPath);
    return status;
  }

  // waitpid, but a shim that hangs fails the test instead of the suite.
  static int waitWithDeadline(pid_t pid) {
    for (int i = 0; i < 2000; i++) {
      int status;
      pid_t done;
      KJ_SYSCALL(done = waitpid(pid, &status, WNOHANG));
      if (done == pid) return status;
      usleep(10000);
    }
    kill(pid, SIGKILL);
    ADD_FAILURE() << "taskctl-exec did not exit within 20 s";
    int status;
    waitpid(pid, &status, 0);
    return status;
  }

  // Runs the shim with go and expects a result and an exit status that
  // carries the same end.
  records::ExecResult::Reader run() {
    int status = runShim();
    auto r = result();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == shimExitStatus(r))
        << "shim status " << status;
    return r;
  }

  records::ExecResult::Reader result() {
    KJ_IF_MAYBE (message, resultMessage) {
      auto result = (*message)->getRoot<records::ExecResult>();
      EXPECT_EQ(result.getVersion(), records::RESULT_VERSION);
      EXPECT_EQ(result.getTaskId(), 42u);
      EXPECT_EQ(result.getAttempt(), 3u);
      return result;
    }
    ADD_FAILURE() << "no readable result at " << resultPath.cStr();
    static capnp::MallocMessageBuilder empty;
    return empty.getRoot<records::ExecResult>().asReader();
  }

  kj::String log() {
    KJ_IF_MAYBE (text, readFile(logPath)) {
      return kj::mv(*text);
    }
    return kj::str("<no log>");
  }
};

TEST_F(ExecShim, RunsTheCommandWithItsOutputInTheLog) {
  command({"sh", "-c", "echo out; echo err >&2"});
  auto result = run();
  EXPECT_FALSE(result.getNotStarted());
  EXPECT_FALSE(result.getSpawnFailed());
  EXPECT_EQ(result.getExitCode(), 0);
  EXPECT_EQ(result.getSignal(), 0);
  EXPECT_GT(result.getStartedAt(), 1700000000ll * 1000000000);
  EXPECT_GE(result.getEndedAt(), result.getStartedAt());
  EXPECT_GT(result.getPeakMemoryBytes(), 0u);
  EXPECT_STREQ(log().cStr(), "out\nerr\n");

  struct stat info;
  ASSERT_EQ(stat(logPath.cStr(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0640u);
  ASSERT_EQ(stat(resultPath.cStr(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_FALSE(exists(kj::str(resultPath, ".tmp")));
}

TEST_F(ExecShim, AppendsToAnExistingLog) {
  writeFile(logPath, "earlier attempt\n", 0640);
  command({"echo", "this attempt"});
  run();
  EXPECT_STREQ(log().cStr(), "earlier attempt\nthis attempt\n");
}

TEST_F(ExecShim, RecordsTheExitCode) {
  command({"sh", "-c", "exit 3"});
  auto result = run();
  EXPECT_FALSE(result.getSpawnFailed());
  EXPECT_EQ(result.getExitCode(), 3);
  EXPECT_EQ(result.getSignal(), 0);
}

TEST_F(ExecShim, RecordsTheKillingSignal) {
  command({"sh", "-c", "kill -KILL $$"});
  auto result = run();
  EXPECT_FALSE(result.getSpawnFailed());
  EXPECT_EQ(result.getSignal(), SIGKILL);
  EXPECT_EQ(result.getExitCode(), -1);
}

TEST_F(ExecShim, RecordsCpuTime) {
  command({"sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"});
  auto result = run();
  EXPECT_EQ(result.getExitCode(), 0);
  EXPECT_GT(result.getCpuUserUsec() + result.getCpuSystemUsec(), 10000u);
}

TEST_F(ExecShim, RunsNothingWhenTheGoPipeClosesUnwritten) {
  auto marker = dir / "ran";
  command({"touch", marker});
  int status = runShim(false);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_NOT_STARTED) << status;
  auto result = this->result();
  EXPECT_TRUE(result.getNotStarted());
  EXPECT_FALSE(result.getSpawnFailed());
  EXPECT_FALSE(exists(marker));
  EXPECT_FALSE(exists(logPath));
}

TEST_F(ExecShim, ReportsACommandNotFound) {
  command({"taskctl-no-such-command", "arg"});
  auto result = run();
  EXPECT_TRUE(result.getSpawnFailed());
  EXPECT_EQ(result.getExitCode(), 127);
  EXPECT_STREQ(result.getMessage().cStr(), "command not found: taskctl-no-such-command");
  EXPECT_STREQ(log().cStr(), "taskctl-exec: command not found: taskctl-no-such-command\n");
}

TEST_F(ExecShim, ReportsAFileThatIsNotExecutable) {
  auto script = dir / "script";
  writeFile(script, "#!/bin/sh\necho ran\n", 0644);
  command({script});
  auto result = run();
  EXPECT_TRUE(result.getSpawnFailed());
  EXPECT_EQ(result.getExitCode(), 126);
  auto why = kj::str("cannot execute ", script, ": Permission denied");
  EXPECT_STREQ(result.getMessage().cStr(), why.cStr());
  EXPECT_STREQ(log().cStr(), kj::str("taskctl-exec: ", why, '\n').cStr());
}

TEST_F(ExecShim, ReportsACwdThatDoesNotExist) {
  auto missing = dir / "missing";
  spec.setCwd(bytes(missing));
  command({"true"});
  auto result = run();
  EXPECT_TRUE(result.getSpawnFailed());
  EXPECT_EQ(result.getExitCode(), 126);
  auto why = kj::str("cannot enter ", missing, ": No such file or directory");
  EXPECT_STREQ(result.getMessage().cStr(), why.cStr());
  EXPECT_STREQ(log().cStr(), kj::str("taskctl-exec: ", why, '\n').cStr());
}

TEST_F(ExecShim, RunsInTheCwd) {
  command({"pwd"});
  run();
  EXPECT_STREQ(log().cStr(), kj::str(dir.path, '\n').cStr());
}

TEST_F(ExecShim, PassesExactlyTheSpecEnvironment) {
  KJ_ASSERT(setenv("TASKCTL_EXEC_TEST_LEAK", "the shim's own", 1) == 0);
  environment({"PATH=/usr/bin:/bin", "B=2", "A=one two", "EMPTY=", "TASKCTL_TASK_ID=42"});
  command({"env"});
  run();
  unsetenv("TASKCTL_EXEC_TEST_LEAK");
  EXPECT_STREQ(log().cStr(), "PATH=/usr/bin:/bin\nB=2\nA=one two\nEMPTY=\nTASKCTL_TASK_ID=42\n");
}

// The shim's own PATH is made useless while it runs, so only the spec's can work.
class ExecShimPath : public ExecShim {
 protected:
  kj::String savedPath = kj::str(getenv("PATH"));
  ExecShimPath() { setenv("PATH", "/nonexistent", 1); }
  ~ExecShimPath() { setenv("PATH", savedPath.cStr(), 1); }
};

TEST_F(ExecShimPath, SearchesThePathOfTheSpecEnvironment) {
  KJ_SYSCALL(mkdir((dir / "bin").cStr(), 0755));
  writeFile(dir / "bin/hello", "#!/bin/sh\necho hello from the spec PATH\n", 0755);
  auto path = kj::str("PATH=/nonexistent:", dir / "bin", ":/usr/bin:/bin");
  environment({path});
  command({"hello"});
  auto result = run();
  EXPECT_FALSE(result.getSpawnFailed()) << result.getMessage().cStr();
  EXPECT_STREQ(log().cStr(), "hello from the spec PATH\n");
}

TEST_F(ExecShimPath, SkipsANonExecutableMatchEarlierInThePath) {
  KJ_SYSCALL(mkdir((dir / "a").cStr(), 0755));
  KJ_SYSCALL(mkdir((dir / "b").cStr(), 0755));
  writeFile(dir / "a/tool", "#!/bin/sh\necho wrong\n", 0644);
  writeFile(dir / "b/tool", "#!/bin/sh\necho right\n", 0755);
  auto path = kj::str("PATH=", dir / "a", ':', dir / "b");
  environment({path});
  command({"tool"});
  run();
  EXPECT_STREQ(log().cStr(), "right\n");
}

TEST_F(ExecShimPath, SearchesADefaultPathWhenTheEnvironmentHasNone) {
  environment({"HOME=/"});
  command({"sh", "-c", "echo found"});
  auto result = run();
  EXPECT_FALSE(result.getSpawnFailed()) << result.getMessage().cStr();
  EXPECT_STREQ(log().cStr(), "found\n");
}

TEST_F(ExecShim, LeavesOnlyTheStandardFdsOpen) {
  // ls itself opens the directory it lists: that is the 3.
  command({"ls", "/proc/self/fd"});
  run();
  EXPECT_STREQ(log().cStr(), "0\n1\n2\n3\n");
}

TEST_F(ExecShim, GivesTheCommandDevNullAsStdin) {
  command({"readlink", "/proc/self/fd/0"});
  run();
  EXPECT_STREQ(log().cStr(), "/dev/null\n");
}

TEST_F(ExecShim, StartsTheCommandWithNoSignalBlockedOrIgnored) {
  command({"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"});
  run();
  EXPECT_STREQ(log().cStr(), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_F(ExecShim, AppliesTheUmask) {
  spec.setUmask(027);
  command({"sh", "-c", "umask"});
  run();
  EXPECT_STREQ(log().cStr(), "0027\n");
}

void setOomScoreAdj(kj::StringPtr value) { writeFile("/proc/self/oom_score_adj", value, 0644); }

TEST_F(ExecShim, ResetsTheOomScoreOfTheCommand) {
  // The shim lowers its own to -1000 where it may (CAP_SYS_RESOURCE). Where
  // it may not, the 500 it inherits here must not reach the command either.
  auto saved = KJ_ASSERT_NONNULL(readFile("/proc/self/oom_score_adj"));
  setOomScoreAdj("500");
  command({"cat", "/proc/self/oom_score_adj"});
  run();
  setOomScoreAdj(saved);
  EXPECT_STREQ(log().cStr(), "0\n");
}

// The daemon signals the shim (pidfd_send_signal, or kill of its process
// group); the shim passes the signal on to the command's group and records
// how the command ended.
class ExecShimCancel : public ExecShim {
 protected:
  kj::Maybe<pid_t> commandPid;

  int runAndSignal(kj::Function<void(pid_t shim)> signalShim) {
    // The shell reports its pid, then becomes a child of itself that
    // ignores nothing: both must die, the group is signalled.
    command({"sh", "-c", "echo $$; sleep 30 & wait"});
    kj::Function<void(pid_t)> whileRunning = [this, &signalShim](pid_t shim) {
      for (int i = 0; i < 1000 && !log().endsWith("\n"); i++) usleep(10000);
      int pid = atoi(log().cStr());
      KJ_ASSERT(pid > 1, "the command did not report its pid", log());
      commandPid = pid;
      usleep(50000);  // for sleep to start
      signalShim(shim);
    };
    return runShim(true, nullptr, kj::mv(whileRunning));
  }
};

TEST_F(ExecShimCancel, ForwardsASignalSentToTheShimAlone) {
  int status = runAndSignal([](pid_t shim) { KJ_SYSCALL(kill(shim, SIGTERM)); });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM) << status;
  auto result = this->result();
  EXPECT_FALSE(result.getSpawnFailed());
  EXPECT_EQ(result.getSignal(), SIGTERM);
  auto pid = KJ_ASSERT_NONNULL(commandPid);
  EXPECT_EQ(groupMembers(pid).size(), 0u) << "the command's background sleep survived";
}

TEST_F(ExecShimCancel, ForwardsASignalSentToTheShimsProcessGroup) {
  int status = runAndSignal([](pid_t shim) { KJ_SYSCALL(kill(-shim, SIGTERM)); });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM) << status;
  EXPECT_EQ(result().getSignal(), SIGTERM);
  auto pid = KJ_ASSERT_NONNULL(commandPid);
  EXPECT_EQ(groupMembers(pid).size(), 0u) << "the command's background sleep survived";
}

TEST_F(ExecShimCancel, TakesTheCommandAlongWhenTheShimIsKilled) {
  int status = runAndSignal([](pid_t shim) { KJ_SYSCALL(kill(shim, SIGKILL)); });
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(resultMessage == nullptr);
  auto pid = KJ_ASSERT_NONNULL(commandPid);
  EXPECT_TRUE(ends(pid)) << "the command outlived its shim";
  // Its background sleep is beyond reach of the shim; clean up after the test.
  for (auto member : groupMembers(pid)) kill(member, SIGKILL);
}

// The log's cap (DESIGN section 6, "Output"); the daemon always sets one.
constexpr uint64_t MiB = 1 << 20;

TEST_F(ExecShim, KeepsA200MiBOutputUnderTheCapEndingWithTheLatestOutput) {
  spec.setLogMaxBytes(MiB);
  command({"sh", "-c", "yes | head -c 200M; echo the last line"});
  auto result = run();
  EXPECT_EQ(result.getExitCode(), 0);
  auto text = log();
  EXPECT_LE(text.size(), MiB);
  EXPECT_TRUE(text.endsWith("y\nthe last line\n"));
  // The marker comes first and counts every byte that is no longer there.
  size_t newline = KJ_ASSERT_NONNULL(text.findFirst('\n'));
  auto rest = text.slice(newline + 1);
  uint64_t dropped = 200 * MiB + strlen("the last line\n") - rest.size();
  auto marker = kj::str("[taskctl: ", dropped, " bytes of earlier output dropped]\n");
  EXPECT_STREQ(kj::str(text.slice(0, newline + 1)).cStr(), marker.cStr());
  EXPECT_TRUE(rest.startsWith("y\n")) << "the cut is not at a line start";
  EXPECT_EQ(rest.findFirst('['), nullptr) << "a marker is left in the middle";
  EXPECT_FALSE(exists(kj::str(logPath, ".tmp")));
}

TEST_F(ExecShim, KeepsTheInterleavingOfStdoutAndStderr) {
  spec.setLogMaxBytes(MiB);
  command({"sh", "-c", "for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; done"});
  run();
  EXPECT_STREQ(log().cStr(),
               "out 1\nerr 1\nout 2\nerr 2\nout 3\nerr 3\nout 4\nerr 4\nout 5\nerr 5\n");
}

TEST_F(ExecShim, EndsPromptlyWhenABackgroundProcessKeepsTheOutputOpen) {
  spec.setLogMaxBytes(MiB);
  command({"sh", "-c", "echo $$; sleep 100 & exit 7"});
  auto start = monotonicMs();
  auto result = run();
  auto took = monotonicMs() - start;
  EXPECT_EQ(result.getExitCode(), 7);
  EXPECT_LT(took, DRAIN_QUIET_MS + 2000);
  int group = atoi(log().cStr());
  ASSERT_GT(group, 1) << log().cStr();
  auto left = groupMembers(group);
  EXPECT_EQ(left.size(), 1u) << "the background sleep should still hold the output";
  for (auto pid : left) kill(pid, SIGKILL);
}

TEST_F(ExecShim, StopsCopyingABackgroundWriterSoonAfterTheCommandEnds) {
  spec.setLogMaxBytes(MiB);
  command({"sh", "-c", "echo $$; (while :; do echo tick; sleep 0.1; done) & exit 0"});
  auto start = monotonicMs();
  auto result = run();
  auto took = monotonicMs() - start;
  EXPECT_EQ(result.getExitCode(), 0);
  EXPECT_LT(took, DRAIN_MAX_MS + 2000);
  auto text = log();
  int group = atoi(text.cStr());
  ASSERT_GT(group, 1) << text.cStr();
  // Copied on after the end while it kept coming: most of DRAIN_MAX_MS of ticks.
  size_t ticks = 0;
  for (const char* at = text.cStr(); (at = strstr(at, "tick\n")) != nullptr; at++) ticks++;
  EXPECT_GT(ticks, 10u) << text.cStr();
  // Then the writer meets a closed pipe and dies of it.
  bool gone = false;
  for (int i = 0; i < 300 && !gone; i++) {
    gone = groupMembers(group).size() == 0;
    if (!gone) usleep(10000);
  }
  EXPECT_TRUE(gone) << "the background writer outlived the closed pipe";
  for (auto pid : groupMembers(group)) kill(pid, SIGKILL);
}

TEST_F(ExecShim, ForwardsASignalWhileCopyingHeavyOutput) {
  spec.setLogMaxBytes(MiB);
  command({"yes", "a line of output"});
  int64_t signalled = 0;
  kj::Function<void(pid_t)> whileRunning = [&signalled](pid_t shim) {
    usleep(300000);
    signalled = monotonicMs();
    KJ_SYSCALL(kill(shim, SIGTERM));
  };
  int status = runShim(true, nullptr, kj::mv(whileRunning));
  auto took = monotonicMs() - signalled;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM) << status;
  EXPECT_EQ(result().getSignal(), SIGTERM);
  EXPECT_LT(took, 2000);
  auto text = log();
  EXPECT_LE(text.size(), MiB);
  EXPECT_TRUE(text.startsWith("[taskctl: ")) << "less than 1 MiB of output in 300 ms";
}

TEST_F(ExecShim, WritesASpawnFailureAtTheEndOfACappedLog) {
  auto earlier = kj::heapString(8000);
  for (size_t i = 0; i < earlier.size(); i++) earlier[i] = i % 16 == 15 ? '\n' : 'e';
  writeFile(logPath, earlier, 0640);
  spec.setLogMaxBytes(4096);
  command({"taskctl-no-such-command"});
  auto result = run();
  EXPECT_EQ(result.getExitCode(), 127);
  auto text = log();
  EXPECT_LE(text.size(), 4096u);
  EXPECT_TRUE(text.startsWith("[taskctl: ")) << text.cStr();
  EXPECT_TRUE(text.endsWith("eee\ntaskctl-exec: command not found: taskctl-no-such-command\n"))
      << text.cStr();
}

TEST_F(ExecShim, RefusesASpecThatIsNotAMessage) {
  int status = runShim(true, kj::StringPtr("not a capnp message"));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_SHIM_FAILED) << status;
  EXPECT_TRUE(resultMessage == nullptr);
}

// issue 13, point 4: a spec the shim refuses is an end (spawn, 126), never
// "not started", which the daemon requeues: it would come back every time.
TEST_F(ExecShim, RefusesASpecWithoutACommandAndRunsNothing) {
  int status = runShim();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_SPAWN_126) << status;
  EXPECT_FALSE(result().getNotStarted());
  EXPECT_TRUE(result().getSpawnFailed());
  EXPECT_EQ(result().getExitCode(), 126);
  EXPECT_STREQ(result().getMessage().cStr(),
               "taskctl-exec refused the command: the spec has no command");
}

TEST_F(ExecShim, RefusesANulByteAsAnEndAlsoWithoutAResultFile) {
  auto argv = spec.initArgv(2);
  argv.set(0, bytes("sh"));
  argv.set(1, kj::heapArray<kj::byte>({'-', 'c', 0, 't', 'o', 'u', 'c', 'h', ' ', 'x'}));
  auto result = run();
  EXPECT_TRUE(result.getSpawnFailed());
  EXPECT_FALSE(result.getNotStarted());
  EXPECT_EQ(result.getExitCode(), 126);
  EXPECT_STREQ(result.getMessage().cStr(),
               "taskctl-exec refused the command: an argument of the spec holds a NUL byte");
  EXPECT_FALSE(exists(dir / "x"));
  // No result file can be written: the exit status alone says the same.
  command({"true"});
  spec.setCwd(kj::heapArray<kj::byte>({'/', 0, 't'}));
  resultPath = dir / "no-such-dir/attempt.result";
  spec.setResultPath(resultPath);
  int status = runShim();
  EXPECT_TRUE(resultMessage == nullptr);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_SPAWN_126) << status;
  capnp::MallocMessageBuilder out;
  auto decoded = out.initRoot<records::ExecResult>();
  ASSERT_TRUE(outcomeFromShimExit(WEXITSTATUS(status), decoded));
  EXPECT_TRUE(decoded.getSpawnFailed());
  EXPECT_FALSE(decoded.getNotStarted());
}

// These need root, as the daemon has; CI runs the unit tests as root.
class ExecShimAsRoot : public ExecShim {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "dropping privileges needs root: run the unit tests as root";
    spec.setUid(65534);
    spec.setGid(65534);
    spec.initGroups(1).set(0, 65534);
    spec.setDropPrivileges(true);
    spec.setCwd(bytes("/"));
  }
};

TEST_F(ExecShimAsRoot, RunsTheCommandAsTheSubmitter) {
  command({"sh", "-c", "id -u; id -g; id -G"});
  auto result = run();
  EXPECT_FALSE(result.getSpawnFailed()) << result.getMessage().cStr();
  EXPECT_STREQ(log().cStr(), "65534\n65534\n65534\n");
}

TEST_F(ExecShimAsRoot, FailsOnACwdTheSubmitterCannotEnter) {
  struct stat info;
  ASSERT_EQ(stat("/root", &info), 0);
  ASSERT_EQ(info.st_mode & 0077, 0u) << "/root must be closed to others for this test";
  spec.setCwd(bytes("/root"));
  command({"true"});
  auto result = run();
  EXPECT_TRUE(result.getSpawnFailed());
  EXPECT_EQ(result.getExitCode(), 126);
  EXPECT_STREQ(result.getMessage().cStr(), "cannot enter /root: Permission denied");
}

TEST_F(ExecShimAsRoot, KeepsTheLogOwnedByRoot) {
  command({"echo", "hi"});
  run();
  struct stat info;
  ASSERT_EQ(stat(logPath.cStr(), &info), 0);
  EXPECT_EQ(info.st_uid, 0u);
  EXPECT_STREQ(log().cStr(), "hi\n");
}

}  // namespace
}  // namespace taskctl

namespace taskctl {
namespace {

// issue 12, point 1: the result's room is taken before the command runs.
TEST_F(ExecShim, ReservesTheResultsRoomBeforeTheCommandRuns) {
  command({"sleep", "0.5"});
  bool checked = false;
  kj::Function<void(pid_t)> whileRunning = [&](pid_t) {
    usleep(200000);
    struct stat st;
    ASSERT_EQ(stat(kj::str(resultPath, ".tmp").cStr(), &st), 0) << "no reserved result";
    EXPECT_GE(uint64_t(st.st_blocks) * 512, ReservedResult::RESERVED_BYTES);
    // The final name exists (empty) so the last rename needs no new entry.
    ASSERT_EQ(stat(resultPath.cStr(), &st), 0);
    EXPECT_EQ(st.st_size, 0);
    EXPECT_TRUE(readExecResult(resultPath) == nullptr) << "an empty result must read as none";
    checked = true;
  };
  int status = runShim(true, nullptr, kj::mv(whileRunning));
  EXPECT_TRUE(checked);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(result().getExitCode(), 0);
  EXPECT_FALSE(exists(kj::str(resultPath, ".tmp")));
}

// issue 12, point 1: when no result can be written at all, the exit status
// alone says how the command ended.
TEST_F(ExecShim, ExitsWithTheCommandsEndWhenNoResultCanBeWritten) {
  resultPath = dir / "no-such-dir/attempt.result";
  spec.setResultPath(resultPath);
  struct Case {
    kj::StringPtr script;
    int status;
  };
  for (auto c : {Case{"exit 0", 0}, Case{"exit 3", 3}, Case{"exit 200", SHIM_EXIT_HIGH_CODE},
                 Case{"kill -KILL $$", 128 + SIGKILL}}) {
    command({"sh", "-c", c.script});
    int status = runShim();
    EXPECT_TRUE(resultMessage == nullptr);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == c.status)
        << c.script.cStr() << ": shim status " << status;
  }
  command({"taskctl-no-such-command"});
  int status = runShim();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_SPAWN_127) << status;
  status = runShim(false);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_NOT_STARTED) << status;
}

// issue 13, point 3: the shim (root) never appends to, truncates or creates
// a file through a link put in the place of the log or the result.
TEST_F(ExecShim, NeverWritesThroughALinkInTheLogsOrTheResultsPlace) {
  auto victimLog = dir / "victim-log", victimTmp = dir / "victim-tmp";
  auto victimNew = dir / "victim-new";
  writeFile(victimLog, "precious\n", 0644);
  writeFile(victimTmp, "precious\n", 0644);
  KJ_SYSCALL(symlink(victimLog.cStr(), logPath.cStr()));
  KJ_SYSCALL(symlink(victimNew.cStr(), resultPath.cStr()));
  KJ_SYSCALL(symlink(victimTmp.cStr(), kj::str(resultPath, ".tmp").cStr()));
  command({"sh", "-c", "echo pwned; touch ran"});
  runShim();
  EXPECT_STREQ(KJ_ASSERT_NONNULL(readFile(victimLog)).cStr(), "precious\n");
  EXPECT_STREQ(KJ_ASSERT_NONNULL(readFile(victimTmp)).cStr(), "precious\n");
  EXPECT_FALSE(exists(victimNew));
  EXPECT_FALSE(exists(dir / "ran")) << "the command ran without its log";
}

// The encoding both ways: every end the status can hold comes back as it was.
TEST(ShimExit, EncodesEachEndUnambiguously) {
  auto roundTrip = [](kj::Function<void(records::ExecResult::Builder)> fill,
                      kj::Function<void(records::ExecResult::Reader)> check) -> int {
    capnp::MallocMessageBuilder in;
    auto r = in.initRoot<records::ExecResult>();
    fill(r);
    int status = shimExitStatus(r.asReader());
    EXPECT_GE(status, 0);
    EXPECT_LE(status, 255);
    capnp::MallocMessageBuilder out;
    auto decoded = out.initRoot<records::ExecResult>();
    EXPECT_TRUE(outcomeFromShimExit(status, decoded)) << status;
    check(decoded.asReader());
    return status;
  };
  std::set<int> seen;
  for (int code = 0; code <= 127; code++) {
    seen.insert(roundTrip([&](auto r) { r.setExitCode(code); },
                          [&](auto r) {
                            EXPECT_EQ(r.getExitCode(), code);
                            EXPECT_EQ(r.getSignal(), 0);
                            EXPECT_FALSE(r.getSpawnFailed());
                            EXPECT_FALSE(r.getNotStarted());
                          }));
  }
  for (int signal = 1; signal <= 64; signal++) {
    seen.insert(roundTrip(
        [&](auto r) {
          r.setExitCode(-1);
          r.setSignal(signal);
        },
        [&](auto r) {
          EXPECT_EQ(r.getSignal(), signal);
          EXPECT_EQ(r.getExitCode(), -1);
        }));
  }
  EXPECT_EQ(seen.size(), 128u + 64u) << "two ends share a status";
  // A code of 128 or more: failed for certain, never a success or a signal.
  for (int code : {128, 137, 255}) {
    int status = roundTrip([&](auto r) { r.setExitCode(code); },
                           [&](auto r) {
                             EXPECT_NE(r.getExitCode(), 0);
                             EXPECT_EQ(r.getSignal(), 0);
                             EXPECT_FALSE(r.getSpawnFailed());
                           });
    EXPECT_EQ(seen.count(status), 0u);
  }
  for (int code : {126, 127}) {
    int status = roundTrip(
        [&](auto r) {
          r.setSpawnFailed(true);
          r.setExitCode(code);
        },
        [&](auto r) {
          EXPECT_TRUE(r.getSpawnFailed());
          EXPECT_EQ(r.getExitCode(), code);
        });
    EXPECT_EQ(seen.count(status), 0u);
    seen.insert(status);
  }
  int status = roundTrip([](auto r) { r.setNotStarted(true); },
                         [](auto r) { EXPECT_TRUE(r.getNotStarted()); });
  EXPECT_EQ(seen.count(status), 0u);
  // The shim's own failure and the unused values carry no end: `lost`.
  capnp::MallocMessageBuilder out;
  for (int unused : {SHIM_EXIT_SHIM_FAILED, 194, 249, 253, 254}) {
    EXPECT_FALSE(outcomeFromShimExit(unused, out.initRoot<records::ExecResult>())) << unused;
  }
}

}  // namespace
}  // namespace taskctl
