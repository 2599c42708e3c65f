#include "runner/slurm/child-command.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include "runner/slurm/slurm-commands.h"

namespace taskctl {
namespace {

struct Loop {
  kj::UnixEventPort port;
  kj::EventLoop loop{port};
  kj::WaitScope ws{loop};
  kj::Timer& timer = port.getTimer();

  kj::Promise<ChildResult> run(std::initializer_list<const char*> args, ChildOptions options = {}) {
    auto argv = kj::heapArrayBuilder<kj::String>(args.size());
    for (auto a : args) argv.add(kj::str(a));
    auto built = argv.finish();
    return runChild(port, timer, built, kj::mv(options));
  }
  ChildResult wait(std::initializer_list<const char*> args, ChildOptions options = {}) {
    return run(args, kj::mv(options)).wait(ws);
  }
};

ChildOptions withStdin(const char* text) {
  ChildOptions o;
  o.stdinBytes = kj::str(text);
  return o;
}

TEST(ChildCommand, CapturesOutputAndTheExitCode) {
  Loop l;
  auto r = l.wait({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(l.wait({"/bin/true"}).status, 0);
}

TEST(ChildCommand, WritesStdin) {
  Loop l;
  EXPECT_EQ(l.wait({"/bin/cat"}, withStdin("hello\n")).out, "hello\n");
  // More than a pipe holds: written as the child reads.
  std::string big(300000, 'x');
  auto r = l.wait({"/usr/bin/wc", "-c"}, withStdin(big.c_str()));
  EXPECT_EQ(r.out, "300000\n");
  // A child that never reads its stdin does not hang us.
  EXPECT_EQ(l.wait({"/bin/true"}, withStdin(big.c_str())).status, 0);
  EXPECT_EQ(l.wait({"/bin/cat"}).out, "");  // no stdin: /dev/null
}

TEST(ChildCommand, ASignalIs128Plus) {
  Loop l;
  EXPECT_EQ(l.wait({"/bin/sh", "-c", "kill -TERM $$"}).status, 128 + SIGTERM);
}

TEST(ChildCommand, KillsAtTheTimeoutAndRejects) {
  Loop l;
  ChildOptions o;
  o.timeoutUsec = 200000;
  auto start = std::chrono::steady_clock::now();
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { l.wait({"/bin/sleep", "30"}, kj::mv(o)); })) {
    EXPECT_EQ(std::string(e->getDescription().cStr()),
              "/bin/sleep did not finish within 200ms: killed");
    EXPECT_EQ(e->getType(), kj::Exception::Type::OVERLOADED);
  } else {
    ADD_FAILURE() << "no timeout";
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(ChildCommand, CapsOutputAndDrainsTheRest) {
  Loop l;
  ChildOptions o;
  o.maxOutputBytes = 1000;
  auto r =
      l.wait({"/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' a; echo e >&2"}, kj::mv(o));
  EXPECT_EQ(r.status, 0);  // the child was never blocked on a full pipe
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_EQ(r.out[999], 'a');
  EXPECT_EQ(r.err, "e\n");
}

TEST(ChildCommand, RunsManyAtOnce) {
  Loop l;
  kj::Vector<kj::Promise<ChildResult>> all;
  for (int i = 0; i < 50; ++i) {
    auto n = kj::str(i);
    all.add(l.run({"/bin/sh", "-c", "sleep 0.2; echo $0; exit $(($0 % 7))", n.cStr()}));
  }
  auto start = std::chrono::steady_clock::now();
  auto results = kj::joinPromises(all.releaseAsArray()).wait(l.ws);
  for (auto i : kj::indices(results)) {
    EXPECT_EQ(results[i].out, kj::str(i, "\n"));
    EXPECT_EQ(results[i].status, static_cast<int>(i % 7));
  }
  // Together, not one after another (50 x 0.2 s).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
}

TEST(ChildCommand, DropsToTheGivenUserWhenRoot) {
  Loop l;
  struct passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  ChildOptions o;
  o.uid = nobody->pw_uid;
  o.gid = nobody->pw_gid;
  o.groups = kj::heapArray<gid_t>({nobody->pw_gid});
  auto r = l.wait({"/bin/sh", "-c", "id -u; id -g; id -G"}, kj::mv(o));
  EXPECT_EQ(r.status, 0) << r.err.cStr();
  if (geteuid() == 0) {
    EXPECT_EQ(r.out, kj::str(nobody->pw_uid, "\n", nobody->pw_gid, "\n", nobody->pw_gid, "\n"));
  } else {
    // Not root: it cannot become anyone, and runs as we are.
    EXPECT_EQ(r.out.slice(0, r.out.findFirst('\n').orDefault(0)), kj::str(geteuid()));
  }
}

TEST(ChildCommand, AMissingProgramIs127WithTheReason) {
  Loop l;
  auto r = l.wait({"/nonexistent/sbatch", "--parsable"});
  EXPECT_EQ(r.status, 127);
  EXPECT_EQ(r.err, "cannot run /nonexistent/sbatch: No such file or directory");
}

TEST(ChildCommand, GetsAMinimalEnvironmentDefaultSignalsAndNoneBlocked) {
  Loop l;
  setenv("TASKCTL_CHILD_TEST_SECRET", "1", 1);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &old);
  struct sigaction ignore, oldAction;
  memset(&ignore, 0, sizeof(ignore));
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &oldAction);
  auto r = l.wait({"/bin/sh", "-c", "env; grep -E '^Sig(Blk|Ign)' /proc/self/status; pwd"});
  sigprocmask(SIG_SETMASK, &old, nullptr);
  sigaction(SIGPIPE, &oldAction, nullptr);
  std::string out = r.out.cStr();
  EXPECT_NE(out.find("PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"), std::string::npos) << out;
  EXPECT_NE(out.find("LC_ALL=C\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("TASKCTL_CHILD_TEST_SECRET"), std::string::npos) << out;
  EXPECT_NE(out.find("SigBlk:\t0000000000000000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("SigIgn:\t0000000000000000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\n/\n"), std::string::npos) << out;  // cwd: /, not ours

  ChildOptions o;
  o.env = kj::arr(kj::str("ONLY=this"));
  EXPECT_EQ(l.wait({"/usr/bin/env"}, kj::mv(o)).out, "ONLY=this\n");
}

TEST(ChildCommand, DroppingThePromiseKillsAndReapsTheChild) {
  Loop l;
  char dir[] = "/tmp/child-command-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  auto pidFile = kj::str(dir, "/pid");
  auto script =
      kj::str("echo $$ > ", pidFile, ".tmp && mv ", pidFile, ".tmp ", pidFile, " && exec sleep 30");
  auto promise = l.run({"/bin/sh", "-c", script.cStr()});
  pid_t pid = 0;
  for (int i = 0; i < 500 && pid == 0; ++i) {  // at most 5 s
    l.timer.afterDelay(10 * kj::MILLISECONDS).wait(l.ws);
    std::ifstream in(pidFile.cStr());
    in >> pid;
  }
  ASSERT_GT(pid, 0);
  promise = nullptr;
  // Killed now, reaped on the loop as soon as it is gone.
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    l.timer.afterDelay(10 * kj::MILLISECONDS).wait(l.ws);
    gone = kill(pid, 0) != 0 && errno == ESRCH;
  }
  EXPECT_TRUE(gone) << "pid " << pid << " still exists (a zombie?)";
  unlink(pidFile.cStr());
  rmdir(dir);
}

TEST(ChildCommand, FakeSlurmCommandsComposeWithTheirParsers) {
  // A bin_dir of stand-ins, as the e2e tests point bin_dir at counting wrappers.
  Loop l;
  char dir[] = "/tmp/child-command-slurm.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  auto write = [&](const char* name, const char* body) {
    auto path = kj::str(dir, "/", name);
    std::ofstream(path.cStr()) << "#!/bin/sh\n" << body;
    chmod(path.cStr(), 0755);
  };
  write("sbatch", "echo \"$@\" > \"$(dirname \"$0\")/sbatch.args\"; echo '4242;cluster'\n");
  write("squeue", "printf '4242|RUNNING|node1|0|None\\n4243|PENDING||0|JobHeldUser\\n'\n");
  SlurmQueueConfig queue;
  queue.binDir = kj::str(dir);
  SlurmJobRequest request;
  request.taskId = 1;
  request.attempt = 1;
  request.cwd = "/";
  request.scriptPath = "/shared/job";
  request.outputPath = "/shared/out";
  auto sbatch = runChild(l.port, l.timer, sbatchArgv(queue, request), {}).wait(l.ws);
  EXPECT_EQ(sbatch.status, 0) << sbatch.err.cStr();
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseSbatchParsable(sbatch.out)), 4242u);
  uint64_t ids[] = {4242, 4243};
  auto squeue = runChild(l.port, l.timer, squeueArgv(queue.binDir, ids), {}).wait(l.ws);
  auto statuses = parseSqueue(squeue.out);
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(classify(statuses[0].state), SlurmEnd::LIVE);
  EXPECT_EQ(statuses[1].reason, "JobHeldUser");
  for (auto name : {"sbatch", "squeue", "sbatch.args"}) unlink(kj::str(dir, "/", name).cStr());
  rmdir(dir);
}

}  // namespace
}  // namespace taskctl
