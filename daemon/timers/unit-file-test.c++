#include "timers/unit-file.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <string.h>

#include <initializer_list>

namespace taskctl {
namespace {

void setArgv(ScheduleSpec& spec, std::initializer_list<kj::StringPtr> words) {
  auto argv = spec.task.initArgv(words.size());
  uint32_t i = 0;
  for (auto word : words) argv.set(i++, word.asBytes());
}

void addLabel(ScheduleSpec& spec, kj::StringPtr key, kj::StringPtr value) {
  auto old = spec.task.asReader().getLabels();
  capnp::MallocMessageBuilder copy;
  auto kept = copy.initRoot<spec::TaskSpec>().initLabels(old.size());
  for (auto i : kj::indices(old)) kept.setWithCaveats(i, old[i]);
  auto labels = spec.task.initLabels(old.size() + 1);
  for (auto i : kj::indices(old)) labels.setWithCaveats(i, kept[i].asReader());
  labels[old.size()].setKey(key);
  labels[old.size()].setValue(value);
}

ScheduleSpec tick() {
  ScheduleSpec spec;
  spec.name = kj::str("tick");
  spec.uid = 1000;
  spec.onCalendar = kj::str("*:*:0/10");
  spec.accuracyUsec = 1000000;
  setArgv(spec, {"id", "-u"});
  spec.task.setCwd("/home/ann"_kj.asBytes());
  spec.task.setUmask(022);
  return spec;
}

TEST(ScheduleUnitFile, NamesAreLettersDigitsDashAndUnderscoreUpTo64) {
  EXPECT_EQ(checkScheduleName("tick"), nullptr);
  EXPECT_EQ(checkScheduleName("a_B-9"), nullptr);
  EXPECT_EQ(checkScheduleName(kj::str(kj::repeat('x', 64))), nullptr);
  EXPECT_NE(checkScheduleName(kj::str(kj::repeat('x', 65))), nullptr);
  EXPECT_NE(checkScheduleName(""), nullptr);
  EXPECT_NE(checkScheduleName("a.b"), nullptr);
  EXPECT_NE(checkScheduleName("a b"), nullptr);
  EXPECT_NE(checkScheduleName("../x"), nullptr);
}

TEST(ScheduleUnitFile, UnitNamesCarryTheOwnerAndParseBack) {
  EXPECT_EQ(scheduleUnitBase(1000, "tick"), "taskctl-schedule-1000-tick");
  auto key = KJ_ASSERT_NONNULL(parseScheduleUnit("taskctl-schedule-1000-my-job.timer", ".timer"));
  EXPECT_EQ(key.uid, 1000u);
  EXPECT_EQ(key.name, "my-job");
  EXPECT_EQ(parseScheduleUnit("taskctl-schedule-1000-tick.service", ".timer"), nullptr);
  EXPECT_EQ(parseScheduleUnit("taskctl-schedule-x-tick.timer", ".timer"), nullptr);
  EXPECT_EQ(parseScheduleUnit("taskctl-schedule-1000-.timer", ".timer"), nullptr);
  EXPECT_EQ(parseScheduleUnit("apt-daily.timer", ".timer"), nullptr);
}

TEST(ScheduleUnitFile, ExecStartQuotingEscapesWhatSystemdWouldInterpret) {
  EXPECT_EQ(execStartQuote("plain"_kj), "\"plain\"");
  EXPECT_EQ(execStartQuote("two words"_kj), "\"two words\"");
  EXPECT_EQ(execStartQuote("say \"hi\""_kj), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(execStartQuote("it's"_kj), "\"it's\"");
  EXPECT_EQ(execStartQuote("100%"_kj), "\"100%%\"");
  EXPECT_EQ(execStartQuote("%n %i"_kj), "\"%%n %%i\"");
  EXPECT_EQ(execStartQuote("$HOME ${X}"_kj), "\"$$HOME $${X}\"");
  EXPECT_EQ(execStartQuote("a\\b"_kj), "\"a\\\\b\"");
  EXPECT_EQ(execStartQuote("line\nnext\t"_kj), "\"line\\x0anext\\x09\"");
  EXPECT_EQ(execStartQuote("caf\xc3\xa9"_kj), "\"caf\\xc3\\xa9\"");
  EXPECT_EQ(execStartQuote(""_kj), "\"\"");
  EXPECT_EQ(execStartQuote(";"_kj), "\";\"");
}

TEST(ScheduleUnitFile, TheTimerHasTheSpecPersistenceAccuracyAndAnInstallSection) {
  auto spec = tick();
  auto text = scheduleTimerUnit(spec);
  auto has = [&](kj::StringPtr line) {
    return strstr(text.cStr(), kj::str("\n", line, "\n").cStr()) != nullptr;
  };
  EXPECT_TRUE(has("[Timer]")) << text.cStr();
  EXPECT_TRUE(has("OnCalendar=*:*:0/10")) << text.cStr();
  EXPECT_TRUE(has("Persistent=false")) << text.cStr();
  EXPECT_TRUE(has("AccuracySec=1000000us")) << text.cStr();
  EXPECT_TRUE(has("Unit=taskctl-schedule-1000-tick.service")) << text.cStr();
  EXPECT_TRUE(has("WantedBy=timers.target")) << text.cStr();
  EXPECT_EQ(timerOnCalendar(text), "*:*:0/10");

  spec.persistent = true;
  spec.accuracyUsec = 0;
  text = scheduleTimerUnit(spec);
  EXPECT_TRUE(has("Persistent=true")) << text.cStr();
  EXPECT_TRUE(has("AccuracySec=1min")) << text.cStr();

  spec.onCalendar = kj::str("daily\n[Service]");
  EXPECT_ANY_THROW(scheduleTimerUnit(spec));
}

TEST(ScheduleUnitFile, TheServiceSubmitsAsTheOwnerWithTheLabelAndQuotedArguments) {
  auto spec = tick();
  setArgv(spec, {"sh", "-c", "echo \"$HOME\" 50% done"});
  auto text = scheduleServiceUnit(spec, "/usr/bin/taskctl", "/run/taskctl/taskctl.sock");
  auto has = [&](kj::StringPtr line) {
    return strstr(text.cStr(), kj::str("\n", line, "\n").cStr()) != nullptr;
  };
  EXPECT_TRUE(has("Type=oneshot")) << text.cStr();
  EXPECT_TRUE(has("User=1000")) << text.cStr();
  EXPECT_TRUE(has("WorkingDirectory=/home/ann")) << text.cStr();
  EXPECT_TRUE(has("UMask=0022")) << text.cStr();
  EXPECT_TRUE(has("Environment=\"TASKCTL_SOCKET=/run/taskctl/taskctl.sock\"")) << text.cStr();
  EXPECT_TRUE(
      has("ExecStart=\"/usr/bin/taskctl\" \"submit\" \"--label\" \"schedule=tick\" \"--\" "
          "\"sh\" \"-c\" \"echo \\\"$$HOME\\\" 50%% done\""))
      << text.cStr();
}

TEST(ScheduleUnitFile, SubmitOptionsComeBackAsTaskctlSubmitReadsThem) {
  auto spec = tick();
  spec.task.setQueue("nightly");
  spec.task.setPriority(-5);
  addLabel(spec, "team", "a b");
  auto limits = spec.task.initLimits();
  limits.setTimeoutUsec(90 * 1000000ull);
  limits.setKillGraceUsec(500000);
  limits.setHeartbeatUsec(30 * 1000000ull);
  limits.setCpuQuotaPerSecUsec(125000);
  limits.setMemoryMaxBytes(512ull << 20);
  limits.setTasksMax(100);
  auto retry = spec.task.initRetry();
  retry.setRetries(3);
  retry.setOnExit(true);
  auto codes = retry.initExitCodes(2);
  codes.set(0, 1);
  codes.set(1, 2);
  retry.setOnOom(true);
  retry.setBackoffBaseUsec(5000000);
  retry.setBackoffMaxUsec(60000000);
  spec.task.setKey("backup");
  spec.task.setOnConflict(spec::KeyConflict::SKIP);
  auto argv = scheduleSubmitArgv(spec, "/usr/bin/taskctl");
  EXPECT_EQ(kj::strArray(argv, " "),
            "/usr/bin/taskctl submit --label schedule=tick --label team=a b --queue nightly "
            "--priority -5 --timeout 90000000us --kill-grace 500000us --heartbeat 30000000us "
            "--cpu 12.5000% --memory 536870912 --tasks-max 100 --retries 3 --retry-on "
            "exit:1,2,oom --backoff 5000000us,60000000us --key backup --on-conflict skip -- id -u");
}

TEST(ScheduleUnitFile, TheScheduleLabelIsTaskctls) {
  auto spec = tick();
  addLabel(spec, "schedule", "other");
  EXPECT_ANY_THROW(scheduleSubmitArgv(spec, "/usr/bin/taskctl"));
}

TEST(ScheduleUnitFile, AWorkingDirectoryAUnitFileCannotCarryIsRefused) {
  auto spec = tick();
  spec.task.setCwd("/tmp/a\nb"_kj.asBytes());
  EXPECT_ANY_THROW(scheduleServiceUnit(spec, "/usr/bin/taskctl", "/run/taskctl/taskctl.sock"));
  spec.task.setCwd("/tmp/100%"_kj.asBytes());
  auto text = scheduleServiceUnit(spec, "/usr/bin/taskctl", "/run/taskctl/taskctl.sock");
  EXPECT_NE(strstr(text.cStr(), "\nWorkingDirectory=/tmp/100%%\n"), nullptr) << text.cStr();
}

// DESIGN 6's default for `--retries N` alone is the daemon's: taskctl schedule add sends the
// number and no condition, and each firing passes it on as it came, for the daemon to apply.
TEST(ScheduleUnitFile, RetriesWithoutAConditionComeBackAlone) {
  auto spec = tick();
  spec.task.initRetry().setRetries(2);
  EXPECT_EQ(kj::strArray(scheduleSubmitArgv(spec, "/usr/bin/taskctl"), " "),
            "/usr/bin/taskctl submit --label schedule=tick --retries 2 -- id -u");
  spec.task.getRetry().setBackoffBaseUsec(5000000);
  EXPECT_EQ(kj::strArray(scheduleSubmitArgv(spec, "/usr/bin/taskctl"), " "),
            "/usr/bin/taskctl submit --label schedule=tick --retries 2 --backoff 5000000us -- "
            "id -u");
}

// What a firing submits again of a task spec, and what it leaves behind.
TEST(ScheduleUnitFile, AScheduleKeepsTheSubmitOptionsButNotTheEnvironmentOrTheStart) {
  capnp::MallocMessageBuilder message;
  auto task = message.initRoot<spec::TaskSpec>();
  task.initArgv(1).set(0, "date"_kj.asBytes());
  task.initEnv(1).set(0, "SECRET=1"_kj.asBytes());
  task.setCwd("/srv"_kj.asBytes());
  task.setUmask(027);
  task.setQueue("q");
  task.setPriority(3);
  task.initLabels(1)[0].setKey("team");
  task.initLimits().setTimeoutUsec(7);
  task.initAfter(1)[0].setId(12);
  task.setDelayUsec(1);
  task.setNotBefore(2);
  task.initRetry().setRetries(1);
  task.setKey("k");
  task.setOnConflict(spec::KeyConflict::REPLACE);
  task.setRequestId("r");
  ScheduleSpec spec;
  setScheduleTask(spec, task.asReader());
  auto kept = spec.task.asReader();
  EXPECT_EQ(kept.getArgv()[0], "date"_kj.asBytes());
  EXPECT_EQ(kept.getEnv().size(), 0u);
  EXPECT_EQ(kept.getCwd(), "/srv"_kj.asBytes());
  EXPECT_EQ(kept.getUmask(), 027u);
  EXPECT_EQ(kept.getQueue(), "q");
  EXPECT_EQ(kept.getPriority(), 3);
  EXPECT_EQ(kept.getLabels()[0].getKey(), "team");
  EXPECT_EQ(kept.getLimits().getTimeoutUsec(), 7u);
  EXPECT_EQ(kept.getAfter().size(), 0u);
  EXPECT_EQ(kept.getDelayUsec(), 0u);
  EXPECT_EQ(kept.getNotBefore(), 0);
  EXPECT_EQ(kept.getRetry().getRetries(), 1u);
  EXPECT_EQ(kept.getKey(), "k");
  EXPECT_EQ(kept.getOnConflict(), spec::KeyConflict::REPLACE);
  EXPECT_EQ(kept.getRequestId(), "");

  task.getArgv().set(0, kj::StringPtr("a\0b", 3).asBytes());
  ScheduleSpec withNul;
  EXPECT_ANY_THROW(setScheduleTask(withNul, task.asReader()));
}

}  // namespace
}  // namespace taskctl
