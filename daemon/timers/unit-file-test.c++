#include "timers/unit-file.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <string.h>

namespace taskctl {
namespace {

ScheduleSpec tick() {
  ScheduleSpec spec;
  spec.name = kj::str("tick");
  spec.uid = 1000;
  spec.onCalendar = kj::str("*:*:0/10");
  spec.accuracyUsec = 1000000;
  spec.argv = kj::arr(kj::str("id"), kj::str("-u"));
  spec.cwd = kj::str("/home/ann");
  spec.umask = 022;
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
  spec.argv = kj::arr(kj::str("sh"), kj::str("-c"), kj::str("echo \"$HOME\" 50% done"));
  auto text = scheduleServiceUnit(spec, "/usr/bin/taskctl", "/run/taskctl/taskctl.sock");
  auto has = [&](kj::StringPtr line) {
    return strstr(text.cStr(), kj::str("\n", line, "\n").cStr()) != nullptr;
  };
  EXPECT_TRUE(has("Type=oneshot")) << text.cStr();
  EXPECT_TRUE(has("User=1000")) << text.cStr();
  EXPECT_TRUE(has("WorkingDirectory=/home/ann")) << text.cStr();
  EXPECT_TRUE(has("UMask=0022")) << text.cStr();
  EXPECT_TRUE(has("Environment=\"TASKCTL_SOCKET=/run/taskctl/taskctl.sock\"")) << text.cStr();
  EXPECT_TRUE(has("ExecStart=\"/usr/bin/taskctl\" \"submit\" \"--label\" \"schedule=tick\" \"--\" "
                  "\"sh\" \"-c\" \"echo \\\"$$HOME\\\" 50%% done\""))
      << text.cStr();
}

TEST(ScheduleUnitFile, SubmitOptionsComeBackAsTaskctlSubmitReadsThem) {
  auto spec = tick();
  spec.queue = kj::str("nightly");
  spec.priority = -5;
  spec.labels.add(ScheduleLabel{kj::str("team"), kj::str("a b")});
  spec.timeoutUsec = 90 * 1000000ull;
  spec.killGraceUsec = 500000;
  spec.heartbeatUsec = 30 * 1000000ull;
  spec.cpuQuotaPerSecUsec = 125000;
  spec.memoryMaxBytes = 512ull << 20;
  spec.tasksMax = 100;
  ScheduleRetry retry;
  retry.retries = 3;
  retry.onExit = true;
  retry.exitCodes = kj::arr(int32_t(1), int32_t(2));
  retry.onOom = true;
  retry.backoffBaseUsec = 5000000;
  retry.backoffMaxUsec = 60000000;
  spec.retry = kj::mv(retry);
  spec.key = kj::str("backup");
  spec.onConflict = kj::str("skip");
  auto argv = scheduleSubmitArgv(spec, "/usr/bin/taskctl");
  EXPECT_EQ(kj::strArray(argv, " "),
            "/usr/bin/taskctl submit --label schedule=tick --label team=a b --queue nightly "
            "--priority -5 --timeout 90000000us --kill-grace 500000us --heartbeat 30000000us "
            "--cpu 12.5000% --memory 536870912 --tasks-max 100 --retries 3 --retry-on "
            "exit:1,2,oom --backoff 5000000us,60000000us --key backup --on-conflict skip -- id -u");
}

TEST(ScheduleUnitFile, TheScheduleLabelIsTaskctls) {
  auto spec = tick();
  spec.labels.add(ScheduleLabel{kj::str("schedule"), kj::str("other")});
  EXPECT_ANY_THROW(scheduleSubmitArgv(spec, "/usr/bin/taskctl"));
}

TEST(ScheduleUnitFile, AWorkingDirectoryAUnitFileCannotCarryIsRefused) {
  auto spec = tick();
  spec.cwd = kj::str("/tmp/a\nb");
  EXPECT_ANY_THROW(scheduleServiceUnit(spec, "/usr/bin/taskctl", "/run/taskctl/taskctl.sock"));
  spec.cwd = kj::str("/tmp/100%");
  auto text = scheduleServiceUnit(spec, "/usr/bin/taskctl", "/run/taskctl/taskctl.sock");
  EXPECT_NE(strstr(text.cStr(), "\nWorkingDirectory=/tmp/100%%\n"), nullptr) << text.cStr();
}

}  // namespace
}  // namespace taskctl
