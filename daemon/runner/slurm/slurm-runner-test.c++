// The SlurmRunner against stand-ins for Slurm's commands (shell scripts in
// the queue's bin_dir that log their arguments and print what the test
// says): the write order, the batching, and how Slurm's ends are read. The
// real cluster is tested in tests/shared-scenarios/slurm-*.sh.
#include "runner/slurm/slurm-runner.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "runner/shim-launcher.h"
#include "runner/slurm/slurm-files.h"
#include "temp-dir.h"

namespace taskctl {
namespace {

void writeFile(kj::StringPtr path, kj::StringPtr text, mode_t mode = 0644) {
  std::ofstream out(path.cStr());
  out << text.cStr();
  out.close();
  chmod(path.cStr(), mode);
}

std::string readFile(kj::StringPtr path) {
  std::ifstream in(path.cStr());
  std::stringstream all;
  all << in.rdbuf();
  return all.str();
}

size_t lineCount(kj::StringPtr path) {
  auto text = readFile(path);
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

class SlurmRunnerTest : public testing::Test {
 protected:
  SlurmRunnerTest() : io(kj::setupAsyncIo()) {
    writeFile(dir / "next", "1000\n");
    writeFile(dir / "squeue.out", "");
    auto fake = [&](kj::StringPtr name, kj::StringPtr body) {
      writeFile(kj::str(dir / "bin", "/", name),
                kj::str("#!/bin/sh\nd=", dir.path, "\necho \"$@\" >> $d/", name, ".log\n", body),
                0755);
    };
    fake("sbatch",
         "if [ -f $d/sbatch.fail ]; then cat $d/sbatch.fail >&2; exit 1; fi\n"
         "cat > $d/sbatch.stdin\n"
         "n=$(cat $d/next); echo $((n + 1)) > $d/next; echo \"$n\"\n");
    fake("squeue",
         "if [ -f $d/squeue.fail ]; then cat $d/squeue.fail >&2; exit 1; fi\n"
         "cat $d/squeue.out\n");
    fake("scontrol", "if [ -f $d/scontrol.fail ]; then cat $d/scontrol.fail >&2; exit 1; fi\n");
    fake("scancel", "");
    config.sharedDir = kj::str(dir / "shared");
    config.binDir = kj::str(dir / "bin");
    config.partition = kj::str("debug");
    config.queryIntervalUsec = 100000;
  }
  ~SlurmRunnerTest() noexcept override { made = nullptr; }

  TempDir dir{"slurm-runner"};
  bool dirsMade = [this]() {
    for (auto name : {"bin", "shared", "state"}) KJ_SYSCALL(mkdir((dir / name).cStr(), 0755));
    return true;
  }();
  kj::AsyncIoContext io;
  SlurmQueueConfig config;
  ShimLauncher shims{io.unixEventPort, dir / "state", "/usr/lib/taskctl/taskctl-exec", false};
  kj::Maybe<kj::Own<SlurmRunner>> made;

  SlurmRunner& runner() {
    if (made == nullptr) {
      made = kj::heap<SlurmRunner>(io.unixEventPort, io.provider->getTimer(), shims, "cluster",
                                   config);
    }
    return *KJ_ASSERT_NONNULL(made);
  }

  struct Attempt {
    capnp::MallocMessageBuilder task, attempt;
  };
  kj::Own<Attempt> attemptOf(uint64_t id, uint32_t number) {
    auto a = kj::heap<Attempt>();
    auto t = a->task.initRoot<records::Task>();
    t.setId(id);
    t.setUid(getuid());
    t.setGid(getgid());
    t.setQueue("cluster");
    t.setCwd(kj::StringPtr("/tmp").asBytes());
    auto argv = t.initArgv(1);
    argv.set(0, kj::StringPtr("true").asBytes());
    t.initLimits().setMemoryMaxBytes(50 << 20);
    auto at = a->attempt.initRoot<records::Attempt>();
    at.setTaskId(id);
    at.setNumber(number);
    runner().prepare(t.asReader(), at);
    return a;
  }

  kj::Own<Execution> start(Attempt& a) {
    return runner()
        .start(a.task.getRoot<records::Task>().asReader(),
               a.attempt.getRoot<records::Attempt>().asReader())
        .wait(io.waitScope);
  }

  void sleepFor(uint64_t ms) {
    io.provider->getTimer().afterDelay(ms * kj::MILLISECONDS).wait(io.waitScope);
  }

  void squeueSays(kj::StringPtr lines) { writeFile(dir / "squeue.out", lines); }

  void writeResult(uint64_t id, uint32_t n) {
    writeFile(kj::str(slurmRunDir(config.sharedDir, id, n), "/result"), "not read here");
  }

  // Waits (bounded) for an execution's end, as the scheduler does.
  bool endsWithin(Execution& e, uint64_t ms) {
    return e.exited()
        .then([]() { return true; })
        .exclusiveJoin(
            io.provider->getTimer().afterDelay(ms * kj::MILLISECONDS).then([]() { return false; }))
        .wait(io.waitScope);
  }
};

TEST_F(SlurmRunnerTest, SubmitsHeldAsTheTaskAndReleasesOnGoInOneCallPerTurn) {
  auto a = attemptOf(7, 1);
  auto b = attemptOf(8, 1);
  EXPECT_EQ(kj::str(a->attempt.getRoot<records::Attempt>().getSharedDir()), config.sharedDir);
  auto first = start(*a);
  auto second = start(*b);
  EXPECT_EQ(first->slurmJobId(), 1000u);
  EXPECT_EQ(second->slurmJobId(), 1001u);
  auto submitted = readFile(dir / "sbatch.log");
  EXPECT_NE(submitted.find("--hold"), std::string::npos) << submitted;
  EXPECT_NE(submitted.find("--no-requeue"), std::string::npos) << submitted;
  EXPECT_NE(submitted.find("--job-name=taskctl-7-1"), std::string::npos) << submitted;
  EXPECT_NE(submitted.find("--mem=50M"), std::string::npos) << submitted;
  EXPECT_NE(submitted.find("--partition=debug"), std::string::npos) << submitted;
  // The run directory holds the spec and the batch script that runs the shim on it.
  auto runDir = slurmRunDir(config.sharedDir, 7, 1);
  auto script = readFile(kj::str(runDir, "/job"));
  EXPECT_NE(script.find(kj::str("--spec-file '", runDir, "/spec'").cStr()), std::string::npos)
      << script;
  struct stat st;
  ASSERT_EQ(stat(slurmLogPath(config.sharedDir, 7, 1).cStr(), &st), 0);
  EXPECT_FALSE(access((dir / "scontrol.log").cStr(), F_OK) == 0) << "released before go";

  first->go();
  second->go();
  sleepFor(50);
  EXPECT_EQ(readFile(dir / "scontrol.log"), "release 1000,1001\n");
}

TEST_F(SlurmRunnerTest, OneSqueueForAllLiveJobsAndNoneWhenNothingIsLive) {
  auto a = attemptOf(1, 1);
  auto b = attemptOf(2, 1);
  auto first = start(*a);
  auto second = start(*b);
  squeueSays("1000|RUNNING|n1|0|None\n1001|PENDING||0|Resources\n");
  auto node = first->node();
  sleepFor(350);
  size_t queries = lineCount(dir / "squeue.log");
  EXPECT_GE(queries, 2u);
  EXPECT_LE(queries, 4u);  // 350 ms at 100 ms, whatever the machine's pace
  EXPECT_NE(readFile(dir / "squeue.log").find("--jobs=1000,1001"), std::string::npos);
  EXPECT_EQ(node.wait(io.waitScope), "n1");

  writeResult(1, 1);
  writeResult(2, 1);
  squeueSays("1000|COMPLETED|n1|0|None\n1001|COMPLETED|n1|256|None\n");
  EXPECT_TRUE(endsWithin(*first, 2000));
  EXPECT_TRUE(endsWithin(*second, 2000));
  EXPECT_TRUE(first->externalEnd() == nullptr) << "the result decides";
  // The second was pending at every query until its end: its node is known from that.
  EXPECT_EQ(second->lastNode(), "n1");
  size_t after = lineCount(dir / "squeue.log");
  sleepFor(400);
  EXPECT_EQ(lineCount(dir / "squeue.log"), after) << "a query with nothing live";
}

TEST_F(SlurmRunnerTest, SlurmsEndsMapToTaskctlsReasons) {
  struct Case {
    kj::StringPtr state;
    bool killedByUs;
    kj::Maybe<ExternalEnd::Kind> kind;
  } cases[] = {
      {"OUT_OF_MEMORY", false, ExternalEnd::Kind::OOM},
      {"TIMEOUT", false, ExternalEnd::Kind::TIMEOUT},
      {"NODE_FAIL", false, ExternalEnd::Kind::LOST},
      {"PREEMPTED", false, ExternalEnd::Kind::PREEMPTED},
      {"CANCELLED", false, ExternalEnd::Kind::CANCELLED_ELSEWHERE},
      {"CANCELLED", true, nullptr},
  };
  uint64_t id = 10;
  for (auto& c : cases) {
    SCOPED_TRACE(c.state.cStr());
    auto a = attemptOf(id, 1);
    auto e = start(*a);
    if (c.killedByUs) e->kill(SIGTERM);
    writeResult(id, 1);
    squeueSays(kj::str(e->slurmJobId(), "|", c.state, "|n1|0|None\n"));
    ASSERT_TRUE(endsWithin(*e, 2000));
    auto end = e->externalEnd();
    KJ_IF_MAYBE (want, c.kind) {
      KJ_IF_MAYBE (got, end) {
        EXPECT_EQ(int(got->kind), int(*want));
        EXPECT_NE(std::string(got->message.cStr()).find(c.state.cStr()), std::string::npos)
            << got->message.cStr();
      } else {
        ADD_FAILURE() << "no external end";
      }
    } else {
      EXPECT_TRUE(end == nullptr);
    }
    id++;
  }
  EXPECT_NE(readFile(dir / "scancel.log").find("--signal=TERM"), std::string::npos);
}

TEST_F(SlurmRunnerTest, AJobThatVanishesWithoutAResultIsLostAfterThreeQueries) {
  auto a = attemptOf(3, 1);
  auto e = start(*a);
  squeueSays("");  // slurmctld forgot it
  ASSERT_TRUE(endsWithin(*e, 3000));
  EXPECT_GE(lineCount(dir / "squeue.log"), 3u);
  KJ_IF_MAYBE (end, e->externalEnd()) {
    EXPECT_EQ(int(end->kind), int(ExternalEnd::Kind::LOST));
  } else {
    ADD_FAILURE() << "not lost";
  }
}

TEST_F(SlurmRunnerTest, AnUnansweredQueryKeepsJobsAsTheyAre) {
  auto a = attemptOf(4, 1);
  auto e = start(*a);
  writeFile(dir / "squeue.fail",
            "squeue: error: Unable to contact slurm controller (connect failure)\n");
  EXPECT_FALSE(endsWithin(*e, 800)) << "a job is never lost because Slurm did not answer";
  EXPECT_FALSE(runner().available());
  unlink((dir / "squeue.fail").cStr());
  writeResult(4, 1);
  squeueSays("1000|COMPLETED|n1|0|None\n");
  EXPECT_TRUE(endsWithin(*e, 5000));
  EXPECT_TRUE(runner().available());
}

TEST_F(SlurmRunnerTest, ARefusedSbatchFailsTheStartAnUnreachableOneDisconnects) {
  auto a = attemptOf(5, 1);
  writeFile(dir / "sbatch.fail", "sbatch: error: invalid partition specified: nope\n");
  auto refused = runner()
                     .start(a->task.getRoot<records::Task>().asReader(),
                            a->attempt.getRoot<records::Attempt>().asReader())
                     .then([](kj::Own<Execution>) -> kj::Maybe<kj::Exception> { return nullptr; },
                           [](kj::Exception&& e) -> kj::Maybe<kj::Exception> { return kj::mv(e); })
                     .wait(io.waitScope);
  KJ_IF_MAYBE (e, refused) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::FAILED);
    EXPECT_NE(std::string(e->getDescription().cStr()).find("invalid partition"), std::string::npos);
  } else {
    ADD_FAILURE() << "started";
  }
  EXPECT_TRUE(runner().available());

  auto b = attemptOf(5, 2);
  writeFile(dir / "sbatch.fail",
            "sbatch: error: Batch job submission failed: Unable to contact slurm controller\n");
  auto unreachable =
      runner()
          .start(b->task.getRoot<records::Task>().asReader(),
                 b->attempt.getRoot<records::Attempt>().asReader())
          .then([](kj::Own<Execution>) -> kj::Maybe<kj::Exception> { return nullptr; },
                [](kj::Exception&& e) -> kj::Maybe<kj::Exception> { return kj::mv(e); })
          .wait(io.waitScope);
  KJ_IF_MAYBE (e, unreachable) {
    EXPECT_EQ(e->getType(), kj::Exception::Type::DISCONNECTED);
  } else {
    ADD_FAILURE() << "started";
  }
  EXPECT_FALSE(runner().available());
  // Back once Slurm answers (a probe, with nothing live).
  writeFile(dir / "scontrol.fail", "");
  unlink((dir / "scontrol.fail").cStr());
  runner().whenAvailable().wait(io.waitScope);
  EXPECT_TRUE(runner().available());
}

TEST_F(SlurmRunnerTest, AnAdoptedJobIsWatchedAndReleasedAgain) {
  auto a = attemptOf(6, 1);
  auto at = a->attempt.getRoot<records::Attempt>();
  at.setSlurmJobId(4242);
  auto e = KJ_ASSERT_NONNULL(runner().adopt(at.asReader()));
  EXPECT_EQ(e->slurmJobId(), 4242u);
  sleepFor(50);
  EXPECT_EQ(readFile(dir / "scontrol.log"), "release 4242\n");
  prepareSlurmRun(
      config.sharedDir,
      [&]() {
        static capnp::MallocMessageBuilder spec;
        auto s = spec.initRoot<records::ExecSpec>();
        s.setTaskId(6);
        s.setAttempt(1);
        s.setUid(getuid());
        s.setGid(getgid());
        return s.asReader();
      }(),
      "#!/bin/sh\n", false);
  writeResult(6, 1);
  squeueSays("4242|COMPLETED|n2|0|None\n");
  EXPECT_TRUE(endsWithin(*e, 2000));
}

TEST(SlurmFiles, RemovingARunNeverFollowsTheOwnersLinks) {
  TempDir dir("slurm-files");
  capnp::MallocMessageBuilder message;
  auto spec = message.initRoot<records::ExecSpec>();
  spec.setTaskId(1);
  spec.setAttempt(1);
  prepareSlurmRun(dir.path, spec.asReader(), "#!/bin/sh\n", false);
  auto victim = dir / "victim";
  writeFile(victim, "keep me");
  auto run = slurmRunDir(dir.path, 1, 1);
  ASSERT_EQ(symlink(victim.cStr(), kj::str(run, "/result").cStr()), 0);
  EXPECT_TRUE(readSlurmOutcome(dir.path, 1, 1) == nullptr) << "a link is not a result";
  ASSERT_EQ(mkfifo(kj::str(run, "/result2").cStr(), 0600), 0);
  removeSlurmRun(dir.path, 1, 1);
  EXPECT_EQ(readFile(victim), "keep me");
  EXPECT_NE(access(run.cStr(), F_OK), 0);
}

TEST(SlurmFiles, AFifoInPlaceOfTheResultDoesNotHangTheReader) {
  TempDir dir("slurm-files");
  capnp::MallocMessageBuilder message;
  auto spec = message.initRoot<records::ExecSpec>();
  spec.setTaskId(2);
  spec.setAttempt(1);
  prepareSlurmRun(dir.path, spec.asReader(), "#!/bin/sh\n", false);
  ASSERT_EQ(mkfifo(kj::str(slurmRunDir(dir.path, 2, 1), "/result").cStr(), 0600), 0);
  EXPECT_TRUE(readSlurmOutcome(dir.path, 2, 1) == nullptr);
  removeSlurmRun(dir.path, 2, 1);
}

}  // namespace
}  // namespace taskctl
