#include "runner/slurm/slurm-commands.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <signal.h>

namespace taskctl {
namespace {

std::string joined(kj::ArrayPtr<const kj::String> argv) { return kj::strArray(argv, " ").cStr(); }

SlurmQueueConfig queue() {
  SlurmQueueConfig q;
  q.sharedDir = kj::str("/shared");
  return q;
}

TEST(SlurmCommands, SbatchAlwaysHoldsNeverRequeuesAndExportsNothing) {
  SlurmJobRequest r;
  r.taskId = 42;
  r.attempt = 3;
  r.cwd = "/home/alice/work";
  r.scriptPath = "/shared/runs/42-3/job";
  r.outputPath = "/shared/runs/42-3/slurm.out";
  EXPECT_EQ(joined(sbatchArgv(queue(), r)),
            "/usr/bin/sbatch --parsable --hold --no-requeue --job-name=taskctl-42-3 "
            "--output=/shared/runs/42-3/slurm.out --error=/shared/runs/42-3/slurm.out "
            "--chdir=/home/alice/work --export=NONE /shared/runs/42-3/job");
}

TEST(SlurmCommands, SbatchMapsLimitsAndQueueSettingsThenTheQueuesOptionsVerbatim) {
  auto q = queue();
  q.partition = kj::str("debug");
  q.account = kj::str("lab");
  q.qos = kj::str("high");
  q.binDir = kj::str("/opt/slurm/bin/");
  q.sbatchOptions.add(kj::str("--exclusive"));
  q.sbatchOptions.add(kj::str("--comment=a b"));
  SlurmJobRequest r;
  r.taskId = 7;
  r.attempt = 1;
  r.cwd = "/tmp";
  r.memoryMaxBytes = 50ull << 20;  // exactly 50 MiB
  r.cpuQuotaPerSecUsec = 1500000;  // 150%: 2 CPUs
  r.timeoutUsec = 3000000;         // 3 s + 10 s grace: 1 minute, + 2
  r.killGraceUsec = 10000000;
  r.scriptPath = "/shared/job";
  r.outputPath = "/shared/100%.out";  // sbatch would expand %j etc.: escaped
  auto argv = sbatchArgv(q, r);
  EXPECT_EQ(joined(argv),
            "/opt/slurm/bin/sbatch --parsable --hold --no-requeue --job-name=taskctl-7-1 "
            "--output=/shared/100%%.out --error=/shared/100%%.out --chdir=/tmp --export=NONE "
            "--partition=debug --account=lab --qos=high --mem=50M --cpus-per-task=2 --time=3 "
            "--exclusive --comment=a b /shared/job");
  EXPECT_EQ(argv[argv.size() - 2], "--comment=a b");  // one argument, as written
}

TEST(SlurmCommands, MemoryRoundsUpToWholeMibAndCpusToAtLeastOne) {
  SlurmJobRequest r;
  r.cwd = "/";
  r.memoryMaxBytes = (50ull << 20) + 1;
  r.cpuQuotaPerSecUsec = 100000;  // 10%
  auto text = joined(sbatchArgv(queue(), r));
  EXPECT_NE(text.find(" --mem=51M "), std::string::npos) << text;
  EXPECT_NE(text.find(" --cpus-per-task=1 "), std::string::npos) << text;
  EXPECT_EQ(text.find("--time"), std::string::npos) << text;
}

TEST(SlurmCommands, TimeLimitIsTimeoutPlusGraceInWholeMinutesPlusTwo) {
  EXPECT_EQ(slurmTimeLimitMinutes(3000000, 10000000), 3u);
  EXPECT_EQ(slurmTimeLimitMinutes(60000000, 0), 3u);
  EXPECT_EQ(slurmTimeLimitMinutes(60000001, 0), 4u);
  EXPECT_EQ(slurmTimeLimitMinutes(3600000000ull, 30000000), 63u);
}

TEST(SlurmCommands, ParsesSbatchParsable) {
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseSbatchParsable("12345\n")), 12345u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseSbatchParsable("12345;cluster\n")), 12345u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseSbatchParsable("  77 \r\n\n")), 77u);
  EXPECT_EQ(parseSbatchParsable(""), nullptr);
  EXPECT_EQ(parseSbatchParsable("Submitted batch job 12\n"), nullptr);
  EXPECT_EQ(parseSbatchParsable("0\n"), nullptr);
  EXPECT_EQ(parseSbatchParsable("12x\n"), nullptr);
}

TEST(SlurmCommands, SqueueAsksForAllTheJobsAtOnce) {
  uint64_t ids[] = {5, 6, 90};
  EXPECT_EQ(joined(squeueArgv("/usr/bin", ids)),
            "/usr/bin/squeue --noheader --states=all --jobs=5,6,90 "
            "--Format=JobID:0|,State:0|,NodeList:0|,exit_code:0|,Reason:0");
}

TEST(SlurmCommands, ParsesSqueueLines) {
  auto statuses = parseSqueue(
      "101|RUNNING|node1|0|None\n"
      "\n"
      "102|PENDING||0|JobHeldUser\n"
      "slurm_load_jobs error: Socket timed out\n"
      "103|OUT_OF_MEMORY|node1|9|OutOfMemory\n"
      "104|FAILED|node2|768|NonZeroExitCode\n"
      "105|CANCELLED|node1|15|None\n"
      "106|WEIRD_NEW_STATE|node1|0|admin said | stop\n"
      "abc|RUNNING|n|0|None\n"
      "107||n|0|None\n"
      "108|COMPLETED|node1|0|None");
  ASSERT_EQ(statuses.size(), 7u);
  EXPECT_EQ(statuses[0].jobId, 101u);
  EXPECT_EQ(statuses[0].state, SlurmJobState::RUNNING);
  EXPECT_EQ(statuses[0].node, "node1");
  EXPECT_EQ(statuses[0].reason, "None");
  EXPECT_EQ(statuses[1].state, SlurmJobState::PENDING);
  EXPECT_EQ(statuses[1].node, "");
  EXPECT_EQ(statuses[1].reason, "JobHeldUser");
  EXPECT_EQ(statuses[2].state, SlurmJobState::OUT_OF_MEMORY);
  EXPECT_EQ(KJ_ASSERT_NONNULL(statuses[2].exit).signal, 9);
  EXPECT_EQ(statuses[3].state, SlurmJobState::FAILED);
  EXPECT_EQ(KJ_ASSERT_NONNULL(statuses[3].exit).code, 3);
  EXPECT_EQ(KJ_ASSERT_NONNULL(statuses[3].exit).signal, 0);
  EXPECT_EQ(statuses[4].stateWord, "CANCELLED");
  EXPECT_EQ(statuses[5].state, SlurmJobState::OTHER);
  EXPECT_EQ(statuses[5].stateWord, "WEIRD_NEW_STATE");
  EXPECT_EQ(statuses[5].reason, "admin said | stop");
  EXPECT_EQ(statuses[6].jobId, 108u);
  EXPECT_EQ(statuses[6].state, SlurmJobState::COMPLETED);
  EXPECT_EQ(KJ_ASSERT_NONNULL(statuses[6].exit).code, 0);
  EXPECT_EQ(parseSqueue("").size(), 0u);
  EXPECT_EQ(parseSqueue("\n\n||||\n").size(), 0u);
}

TEST(SlurmCommands, ParsesScontrolShowJobOneLiner) {
  EXPECT_EQ(joined(scontrolShowJobArgv("/usr/bin", 42)),
            "/usr/bin/scontrol --oneliner show job 42");
  // As 22.05 prints it (abridged); WorkDir's free text comes after our keys.
  auto status = KJ_ASSERT_NONNULL(parseScontrolShowJob(
      "JobId=42 JobName=taskctl-7-1 UserId=alice(1000) GroupId=alice(1000) MCS_label=N/A "
      "Priority=4294901758 Nice=0 Account=(null) QOS=(null) JobState=TIMEOUT Reason=TimeLimit "
      "Dependency=(null) Requeue=0 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 RunTime=00:03:01 "
      "TimeLimit=00:03:00 Partition=debug AllocNode:Sid=host:123 ReqNodeList=(null) "
      "ExcNodeList=(null) NodeList=host BatchHost=host NumNodes=1 NumCPUs=1 "
      "WorkDir=/tmp/a JobState=COMPLETED NodeList=evil StdOut=/shared/out\n"));
  EXPECT_EQ(status.jobId, 42u);
  EXPECT_EQ(status.state, SlurmJobState::TIMEOUT);
  EXPECT_EQ(status.reason, "TimeLimit");
  EXPECT_EQ(status.node, "host");
  EXPECT_EQ(KJ_ASSERT_NONNULL(status.exit).code, 0);
  EXPECT_EQ(KJ_ASSERT_NONNULL(status.exit).signal, 15);
  auto pending = KJ_ASSERT_NONNULL(parseScontrolShowJob(
      "JobId=43 JobName=x JobState=PENDING Reason=JobHeldUser Dependency=(null) ExitCode=0:0 "
      "ReqNodeList=(null) ExcNodeList=(null) NodeList=(null)"));
  EXPECT_EQ(pending.node, "");
  EXPECT_EQ(pending.state, SlurmJobState::PENDING);
  EXPECT_EQ(parseScontrolShowJob(""), nullptr);
  EXPECT_EQ(parseScontrolShowJob("slurm_load_jobs error: Invalid job id specified\n"), nullptr);
  EXPECT_EQ(parseScontrolShowJob("JobId=x JobState=RUNNING"), nullptr);
  EXPECT_TRUE(isInvalidJobIdError("slurm_load_jobs error: Invalid job id specified\n"));
  EXPECT_FALSE(isInvalidJobIdError("slurm_load_jobs error: Unable to contact slurm controller\n"));
}

TEST(SlurmCommands, ScancelSignalsTheScriptWithFullAndKillsByCancelling) {
  EXPECT_EQ(joined(scancelArgv("/usr/bin", 9, SIGTERM)), "/usr/bin/scancel --full --signal=TERM 9");
  EXPECT_EQ(joined(scancelArgv("/usr/bin", 9, SIGINT)), "/usr/bin/scancel --full --signal=INT 9");
  EXPECT_EQ(joined(scancelArgv("/usr/bin", 9, SIGKILL)), "/usr/bin/scancel 9");
}

TEST(SlurmCommands, ScontrolTakesManyJobsAtOnce) {
  uint64_t ids[] = {1, 2, 3};
  EXPECT_EQ(joined(scontrolReleaseArgv("/b", ids)), "/b/scontrol release 1,2,3");
  EXPECT_EQ(joined(scontrolSuspendArgv("/b", ids)), "/b/scontrol suspend 1,2,3");
  EXPECT_EQ(joined(scontrolResumeArgv("/b", kj::arrayPtr(ids, 1))), "/b/scontrol resume 1");
  EXPECT_ANY_THROW(scontrolReleaseArgv("/b", nullptr));
}

TEST(SlurmCommands, ClassifiesEveryState) {
  EXPECT_EQ(parseSlurmJobState("OUT_OF_MEMORY"), SlurmJobState::OUT_OF_MEMORY);
  EXPECT_EQ(parseSlurmJobState("running"), SlurmJobState::OTHER);  // Slurm prints upper case
  struct {
    const char* word;
    SlurmEnd end;
  } cases[] = {
      {"PENDING", SlurmEnd::LIVE},          {"CONFIGURING", SlurmEnd::LIVE},
      {"RUNNING", SlurmEnd::LIVE},          {"SUSPENDED", SlurmEnd::LIVE},
      {"COMPLETING", SlurmEnd::LIVE},       {"STOPPED", SlurmEnd::LIVE},
      {"SIGNALING", SlurmEnd::LIVE},        {"STAGE_OUT", SlurmEnd::LIVE},
      {"RESIZING", SlurmEnd::LIVE},         {"RESV_DEL_HOLD", SlurmEnd::LIVE},
      {"SOMETHING_NEW", SlurmEnd::LIVE},    {"COMPLETED", SlurmEnd::EXITED},
      {"FAILED", SlurmEnd::EXITED},         {"OUT_OF_MEMORY", SlurmEnd::OOM},
      {"TIMEOUT", SlurmEnd::TIMEOUT},       {"DEADLINE", SlurmEnd::TIMEOUT},
      {"CANCELLED", SlurmEnd::CANCELLED},   {"NODE_FAIL", SlurmEnd::LOST},
      {"BOOT_FAIL", SlurmEnd::LOST},        {"REVOKED", SlurmEnd::LOST},
      {"PREEMPTED", SlurmEnd::PREEMPTED},   {"REQUEUED", SlurmEnd::REQUEUED},
      {"REQUEUE_HOLD", SlurmEnd::REQUEUED}, {"REQUEUE_FED", SlurmEnd::REQUEUED},
      {"SPECIAL_EXIT", SlurmEnd::REQUEUED},
  };
  for (auto& c : cases) {
    EXPECT_EQ(static_cast<int>(classify(parseSlurmJobState(c.word))), static_cast<int>(c.end))
        << c.word;
  }
}

}  // namespace
}  // namespace taskctl
