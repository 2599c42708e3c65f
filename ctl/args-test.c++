#include "args.h"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <stdlib.h>
#include <time.h>

#include <initializer_list>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

kj::OneOf<Invocation, UsageError> parse(std::initializer_list<const char*> words) {
  auto args = kj::heapArrayBuilder<const kj::StringPtr>(words.size());
  for (auto word : words) args.add(word);
  return parseArgs(args.finish());
}

Invocation accepted(std::initializer_list<const char*> words) {
  auto result = parse(words);
  if (result.is<UsageError>()) {
    ADD_FAILURE() << "refused: " << result.get<UsageError>().message.cStr();
    return Invocation{GlobalOptions{}, HelpArgs{}};
  }
  return kj::mv(result.get<Invocation>());
}

kj::String refused(std::initializer_list<const char*> words) {
  auto result = parse(words);
  if (!result.is<UsageError>()) {
    ADD_FAILURE() << "accepted";
    return kj::str();
  }
  return kj::mv(result.get<UsageError>().message);
}

// One argument of a submit's command, as text.
kj::String arg(spec::TaskSpec::Reader spec, uint32_t i) {
  return kj::heapString(spec.getArgv()[i].asChars());
}

TEST(Args, NoArgumentsAsksForTheUsageText) {
  auto result = parse({});
  ASSERT_TRUE(result.is<UsageError>());
  EXPECT_TRUE(result.get<UsageError>().showUsage);
}

TEST(Args, OnlyGlobalOptionsAsksForTheUsageText) {
  auto result = parse({"--json"});
  ASSERT_TRUE(result.is<UsageError>());
  EXPECT_TRUE(result.get<UsageError>().showUsage);
}

TEST(Args, SubmitTakesItsOptionsThenTheCommandAfterDoubleDash) {
  auto invocation = accepted({"submit", "--queue", "batch", "--priority", "7", "--label", "a=b",
                              "--label=team=infra", "--wait", "--", "sh", "-c", "echo --json"});
  ASSERT_TRUE(invocation.command.is<SubmitArgs>());
  auto& submit = invocation.command.get<SubmitArgs>();
  EXPECT_EQ(submit.spec.getQueue(), "batch");
  EXPECT_EQ(submit.spec.getPriority(), 7);
  ASSERT_EQ(submit.spec.getLabels().size(), 2u);
  EXPECT_EQ(submit.spec.getLabels()[0].getKey(), "a");
  EXPECT_EQ(submit.spec.getLabels()[0].getValue(), "b");
  EXPECT_EQ(submit.spec.getLabels()[1].getKey(), "team");
  EXPECT_EQ(submit.spec.getLabels()[1].getValue(), "infra");
  EXPECT_TRUE(submit.wait);
  ASSERT_EQ(submit.spec.getArgv().size(), 3u);
  EXPECT_EQ(arg(submit.spec, 0), "sh");
  EXPECT_EQ(arg(submit.spec, 2), "echo --json");
  EXPECT_FALSE(invocation.global.json);
}

TEST(Args, SubmitCommandStartsAtItsFirstWordWithoutDoubleDash) {
  auto invocation = accepted({"submit", "--json", "echo", "--json", "--", "x"});
  auto& submit = invocation.command.get<SubmitArgs>();
  EXPECT_TRUE(invocation.global.json);
  ASSERT_EQ(submit.spec.getArgv().size(), 4u);
  EXPECT_EQ(arg(submit.spec, 1), "--json");
  EXPECT_EQ(arg(submit.spec, 2), "--");
}

TEST(Args, SubmitKeepsADoubleDashThatBelongsToTheCommand) {
  auto invocation = accepted({"submit", "--", "--", "x"});
  auto& submit = invocation.command.get<SubmitArgs>();
  ASSERT_EQ(submit.spec.getArgv().size(), 2u);
  EXPECT_EQ(arg(submit.spec, 0), "--");
}

TEST(Args, SubmitWithoutACommandIsAUsageError) {
  EXPECT_EQ(refused({"submit", "--"}),
            "submit needs a command: taskctl submit [OPTIONS] -- CMD [ARGS...]");
  refused({"submit"});
  refused({"submit", "--wait"});
}

TEST(Args, PriorityMustBeAnIntegerFromMinus100To100) {
  EXPECT_EQ(accepted({"submit", "--priority", "-100", "true"})
                .command.get<SubmitArgs>()
                .spec.getPriority(),
            -100);
  EXPECT_EQ(
      accepted({"submit", "--priority=100", "true"}).command.get<SubmitArgs>().spec.getPriority(),
      100);
  EXPECT_EQ(
      accepted({"submit", "--priority", "+3", "true"}).command.get<SubmitArgs>().spec.getPriority(),
      3);
  EXPECT_EQ(refused({"submit", "--priority", "101", "true"}),
            "--priority must be an integer from -100 to 100, not '101'");
  refused({"submit", "--priority", "-101", "true"});
  refused({"submit", "--priority", "1.5", "true"});
  refused({"submit", "--priority", "high", "true"});
  refused({"submit", "--priority", "", "true"});
  refused({"submit", "--priority", "99999999999999999999999", "true"});
}

TEST(Args, LabelsNeedAKeyAndAnEqualsSign) {
  EXPECT_EQ(refused({"submit", "--label", "novalue", "true"}),
            "--label needs KEY=VALUE, not 'novalue'");
  refused({"submit", "--label", "=v", "true"});
  auto invocation = accepted({"submit", "--label", "k=", "--label", "k2=a=b", "true"});
  auto labels = invocation.command.get<SubmitArgs>().spec.getLabels();
  EXPECT_EQ(labels[0].getValue(), "");
  EXPECT_EQ(labels[1].getValue(), "a=b");
}

// issue 13, point 4: the daemon's bounds on labels, refused before sending (64).
TEST(Args, LabelsAreBoundedAsTheDaemonBoundsThem) {
  auto withLabels = [](size_t n) {
    kj::Vector<kj::String> words;
    words.add(kj::str("submit"));
    for (size_t i = 0; i < n; i++) {
      words.add(kj::str("--label"));
      words.add(kj::str("k", i, "=v"));
    }
    words.add(kj::str("true"));
    auto args = KJ_MAP(w, words)->const kj::StringPtr { return w; };
    return parseArgs(args);
  };
  auto ok = withLabels(64);
  ASSERT_TRUE(ok.is<Invocation>());
  EXPECT_EQ(ok.get<Invocation>().command.get<SubmitArgs>().spec.getLabels().size(), 64u);
  auto over = withLabels(65);
  ASSERT_TRUE(over.is<UsageError>());
  EXPECT_EQ(over.get<UsageError>().message, "at most 64 --label options");
  std::string key(129, 'k'), value(1025, 'v');
  auto longKey = key + "=v", longValue = "k=" + value;
  EXPECT_EQ(refused({"submit", "--label", longKey.c_str(), "true"}),
            "--label: a key is at most 128 bytes");
  EXPECT_EQ(refused({"submit", "--label", longValue.c_str(), "true"}),
            "--label k: a value is at most 1024 bytes");
}

TEST(Args, OptionsThatTakeAValueSayWhenItIsMissing) {
  EXPECT_EQ(refused({"submit", "--queue"}), "option --queue needs a value");
  refused({"list", "--state"});
  refused({"--socket"});
  refused({"--socket", "", "list"});
}

TEST(Args, FlagsTakeNoValue) {
  EXPECT_EQ(refused({"list", "--json=yes"}), "option --json takes no value");
  refused({"submit", "--wait=1", "true"});
}

TEST(Args, UnknownOptionsAndCommandsAreUsageErrors) {
  EXPECT_EQ(refused({"submit", "--bogus", "--", "true"}),
            "unknown option --bogus (see taskctl --help)");
  refused({"--bogus", "list"});
  refused({"status", "-x", "1"});
  EXPECT_EQ(refused({"frobnicate"}), "unknown command 'frobnicate' (see taskctl --help)");
}

TEST(Args, GlobalOptionsGoBeforeOrAfterTheCommand) {
  auto before = accepted({"--json", "--socket", "/tmp/s", "status", "5"});
  EXPECT_TRUE(before.global.json);
  EXPECT_EQ(KJ_ASSERT_NONNULL(before.global.socket), "/tmp/s");
  auto after = accepted({"status", "5", "--socket=/tmp/t", "--json"});
  EXPECT_TRUE(after.global.json);
  EXPECT_EQ(KJ_ASSERT_NONNULL(after.global.socket), "/tmp/t");
  EXPECT_EQ(after.command.get<StatusArgs>().id, 5u);
}

TEST(Args, IdsAreDecimalNumbers) {
  EXPECT_EQ(refused({"status", "abc"}), "not a task id: 'abc'");
  refused({"status", "1x"});
  refused({"status", "0x10"});
  refused({"status", ""});
  refused({"status", " 1"});
  refused({"status", "18446744073709551616"});  // 2^64
  refused({"wait", "1", "two"});
  refused({"cancel", "-1"});  // reads as an unknown option, still 64
  EXPECT_EQ(accepted({"status", "18446744073709551615"}).command.get<StatusArgs>().id, UINT64_MAX);
}

TEST(Args, StatusTakesExactlyOneIdAndOptionallyEnv) {
  auto invocation = accepted({"status", "--env", "42"});
  EXPECT_EQ(invocation.command.get<StatusArgs>().id, 42u);
  EXPECT_TRUE(invocation.command.get<StatusArgs>().withEnv);
  EXPECT_FALSE(accepted({"status", "42"}).command.get<StatusArgs>().withEnv);
  EXPECT_EQ(refused({"status"}), "status needs exactly one task id");
  refused({"status", "1", "2"});
}

TEST(Args, WaitAndCancelKeepTheirIdsInArgumentOrder) {
  auto wait = accepted({"wait", "3", "1", "2", "1"});
  auto& ids = wait.command.get<WaitArgs>().ids;
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[0], 3u);
  EXPECT_EQ(ids[1], 1u);
  EXPECT_EQ(ids[3], 1u);
  EXPECT_EQ(accepted({"cancel", "9", "--", "8"}).command.get<CancelArgs>().ids.size(), 2u);
  EXPECT_EQ(refused({"wait"}), "wait needs at least one task id");
  EXPECT_EQ(refused({"cancel"}), "cancel needs at least one task id");
}

TEST(Args, UpdateTakesOneIdAndAtLeastOneLimit) {
  auto invocation =
      accepted({"update", "7", "--timeout", "+1h", "--memory", "4G", "--cpu", "150%"});
  auto& u = invocation.command.get<UpdateArgs>();
  EXPECT_EQ(u.id, 7u);
  EXPECT_EQ(u.timeoutUsec, 3600000000u);
  EXPECT_TRUE(u.timeoutRelative);
  EXPECT_EQ(u.memoryMaxBytes, 4ull << 30);
  EXPECT_EQ(u.cpuQuotaPerSecUsec, 1500000u);
  EXPECT_EQ(u.tasksMax, 0u);
  auto absolute = accepted({"update", "--timeout=3h", "--tasks-max", "50", "7"});
  EXPECT_FALSE(absolute.command.get<UpdateArgs>().timeoutRelative);
  EXPECT_EQ(absolute.command.get<UpdateArgs>().timeoutUsec, 3 * 3600000000ull);
  EXPECT_EQ(absolute.command.get<UpdateArgs>().tasksMax, 50u);
  EXPECT_EQ(refused({"update", "7"}), "update needs --timeout, --memory, --cpu or --tasks-max");
  EXPECT_EQ(refused({"update", "--memory", "1G"}), "update needs exactly one task id");
  EXPECT_EQ(refused({"update", "7", "8", "--memory", "1G"}), "update needs exactly one task id");
  EXPECT_EQ(refused({"update", "7", "--timeout", "+"}),
            "--timeout must be a duration like 3h, or +1h to add to the current one, not '+'");
  refused({"update", "7", "--timeout", "0"});
  refused({"update", "7", "--memory", "0"});
  EXPECT_EQ(refused({"update", "7", "--heartbeat", "5s"}),
            "update cannot change --heartbeat: the task got it at its start (see taskctl(1), "
            "update)");
}

TEST(Args, PauseAndResumeTakeIds) {
  auto pause = accepted({"pause", "4", "5"}).command.get<PauseArgs>();
  EXPECT_TRUE(pause.paused);
  ASSERT_EQ(pause.ids.size(), 2u);
  EXPECT_EQ(pause.ids[1], 5u);
  EXPECT_FALSE(accepted({"resume", "4"}).command.get<PauseArgs>().paused);
  EXPECT_EQ(refused({"pause"}), "pause needs at least one task id");
  EXPECT_EQ(refused({"resume"}), "resume needs at least one task id");
}

TEST(Args, ListTakesFiltersAndNoArguments) {
  auto invocation = accepted({"list", "--state", "running", "--queue=batch"});
  EXPECT_EQ(invocation.command.get<ListArgs>().state, "running");
  EXPECT_EQ(invocation.command.get<ListArgs>().queue, "batch");
  EXPECT_EQ(accepted({"list"}).command.get<ListArgs>().state, "");
  refused({"list", "5"});
}

TEST(Args, LogsTakesAnAttemptAndFollow) {
  auto invocation = accepted({"logs", "--attempt", "2", "7"});
  EXPECT_EQ(invocation.command.get<LogsArgs>().id, 7u);
  EXPECT_EQ(invocation.command.get<LogsArgs>().attempt, 2u);
  EXPECT_FALSE(invocation.command.get<LogsArgs>().follow);
  EXPECT_EQ(accepted({"logs", "7"}).command.get<LogsArgs>().attempt, 0u);
  refused({"logs", "--attempt", "x", "7"});
  refused({"logs", "--attempt", "4294967296", "7"});
  EXPECT_TRUE(accepted({"logs", "-f", "7"}).command.get<LogsArgs>().follow);
  EXPECT_TRUE(accepted({"logs", "7", "--follow"}).command.get<LogsArgs>().follow);
  EXPECT_EQ(refused({"logs", "--follow=yes", "7"}), "option --follow takes no value");
}

TEST(Args, SubmitTakesLimitsInSystemdUnits) {
  auto invocation =
      accepted({"submit", "--timeout", "1h30m", "--kill-grace=500ms", "--heartbeat", "30s", "--cpu",
                "50%", "--memory", "512M", "--tasks-max", "64", "--", "make"});
  auto& submit = invocation.command.get<SubmitArgs>();
  EXPECT_EQ(submit.spec.getLimits().getTimeoutUsec(), 5'400'000'000u);
  EXPECT_EQ(submit.spec.getLimits().getKillGraceUsec(), 500'000u);
  EXPECT_EQ(submit.spec.getLimits().getHeartbeatUsec(), 30'000'000u);
  EXPECT_EQ(submit.spec.getLimits().getCpuQuotaPerSecUsec(), 500'000u);
  EXPECT_EQ(submit.spec.getLimits().getMemoryMaxBytes(), 512u << 20);
  EXPECT_EQ(submit.spec.getLimits().getTasksMax(), 64u);
  EXPECT_EQ(accepted({"submit", "--timeout", "90", "true"})
                .command.get<SubmitArgs>()
                .spec.getLimits()
                .getTimeoutUsec(),
            90'000'000u);  // a bare number is seconds, as in systemd
  EXPECT_EQ(accepted({"submit", "--cpu=200%", "true"})
                .command.get<SubmitArgs>()
                .spec.getLimits()
                .getCpuQuotaPerSecUsec(),
            2'000'000u);
  EXPECT_EQ(accepted({"submit", "--memory", "2G", "true"})
                .command.get<SubmitArgs>()
                .spec.getLimits()
                .getMemoryMaxBytes(),
            2ull << 30);
}

TEST(Args, LimitsLeftOutAreZero) {
  auto invocation = accepted({"submit", "true"});
  auto& submit = invocation.command.get<SubmitArgs>();
  EXPECT_EQ(submit.spec.getLimits().getTimeoutUsec(), 0u);
  EXPECT_EQ(submit.spec.getLimits().getKillGraceUsec(), 0u);
  EXPECT_EQ(submit.spec.getLimits().getHeartbeatUsec(), 0u);
  EXPECT_EQ(submit.spec.getLimits().getCpuQuotaPerSecUsec(), 0u);
  EXPECT_EQ(submit.spec.getLimits().getMemoryMaxBytes(), 0u);
  EXPECT_EQ(submit.spec.getLimits().getTasksMax(), 0u);
}

TEST(Args, BadLimitsNameTheOptionAndShowAnExample) {
  EXPECT_EQ(refused({"submit", "--memory", "lots", "true"}),
            "--memory must be a size like 512M, not 'lots'");
  EXPECT_EQ(refused({"submit", "--timeout", "soon", "true"}),
            "--timeout must be a duration like 90s, 10m or 1h30m, not 'soon'");
  EXPECT_EQ(refused({"submit", "--kill-grace", "-5s", "true"}),
            "--kill-grace must be a duration like 10s or 500ms, not '-5s'");
  EXPECT_EQ(refused({"submit", "--heartbeat", "1h30", "true"}),
            "--heartbeat must be a duration like 30s or 5m, not '1h30'");
  EXPECT_EQ(refused({"submit", "--cpu", "50", "true"}),
            "--cpu must be a share of one CPU like 50% (200% for two CPUs), not '50'");
  EXPECT_EQ(refused({"submit", "--tasks-max", "many", "true"}),
            "--tasks-max must be a number of processes like 100, not 'many'");
  EXPECT_EQ(refused({"submit", "--tasks-max", "-1", "true"}),
            "--tasks-max must be a number of processes like 100, not '-1'");
  EXPECT_EQ(refused({"submit", "--memory"}), "option --memory needs a value");
  refused({"submit", "--memory", "", "true"});
  refused({"submit", "--memory", "12Q", "true"});
  refused({"submit", "--timeout", "10x", "true"});
}

TEST(Args, LimitsMustBeAboveZero) {
  EXPECT_EQ(refused({"submit", "--timeout", "0", "true"}),
            "--timeout must be a duration like 90s, 10m or 1h30m, not '0'");
  refused({"submit", "--timeout", "0s", "true"});
  refused({"submit", "--kill-grace", "0ms", "true"});
  refused({"submit", "--heartbeat", "0", "true"});
  refused({"submit", "--cpu", "0%", "true"});
  EXPECT_EQ(refused({"submit", "--memory", "0M", "true"}),
            "--memory must be a size like 512M, not '0M'");
  refused({"submit", "--tasks-max", "0", "true"});
}

SubmitArgs acceptedSubmit(std::initializer_list<const char*> words) {
  auto invocation = accepted(words);
  if (!invocation.command.is<SubmitArgs>()) {
    ADD_FAILURE() << "not a submit";
    return SubmitArgs();
  }
  return kj::mv(invocation.command.get<SubmitArgs>());
}

// Sets TZ for the life of one test, then puts it back.
class ZoneForTest {
 public:
  explicit ZoneForTest(const char* tz) {
    if (const char* old = getenv("TZ")) saved = kj::str(old);
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ZoneForTest() {
    KJ_IF_MAYBE (old, saved) {
      setenv("TZ", old->cStr(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  kj::Maybe<kj::String> saved;
};

TEST(Args, AfterTakesIdsWithAConditionThatDefaultsToOk) {
  auto submit = acceptedSubmit({"submit", "--after", "12", "--after", "13:any", "--after=14:failed",
                                "--after", "15:ok", "true"});
  ASSERT_EQ(submit.spec.getAfter().size(), 4u);
  EXPECT_EQ(submit.spec.getAfter()[0].getId(), 12u);
  EXPECT_EQ(submit.spec.getAfter()[0].getCondition(), spec::DependencyCondition::OK);
  EXPECT_EQ(submit.spec.getAfter()[1].getId(), 13u);
  EXPECT_EQ(submit.spec.getAfter()[1].getCondition(), spec::DependencyCondition::ANY);
  EXPECT_EQ(submit.spec.getAfter()[2].getId(), 14u);
  EXPECT_EQ(submit.spec.getAfter()[2].getCondition(), spec::DependencyCondition::FAILED);
  EXPECT_EQ(submit.spec.getAfter()[3].getCondition(), spec::DependencyCondition::OK);
  EXPECT_EQ(acceptedSubmit({"submit", "true"}).spec.getAfter().size(), 0u);
}

TEST(Args, AfterRefusesBadIdsAndConditions) {
  EXPECT_EQ(refused({"submit", "--after", "x", "true"}),
            "--after needs a task id, optionally with :ok, :any or :failed (12, 12:any), not 'x'");
  EXPECT_EQ(refused({"submit", "--after", "12:maybe", "true"}),
            "--after takes ID:ok, ID:any or ID:failed, not '12:maybe'");
  for (auto bad : {"", "12:", ":ok", "-1", "12:ok:any", "12:OK", " 12", "0x10", "1.5",
                   "18446744073709551616"}) {
    refused({"submit", "--after", bad, "true"});
  }
  EXPECT_EQ(refused({"submit", "--after"}), "option --after needs a value");
}

TEST(Args, InTakesADurationAndZeroMeansNow) {
  EXPECT_EQ(acceptedSubmit({"submit", "--in", "90s", "true"}).spec.getDelayUsec(), 90'000'000u);
  EXPECT_EQ(acceptedSubmit({"submit", "--in=1h30m", "true"}).spec.getDelayUsec(), 5'400'000'000u);
  EXPECT_EQ(acceptedSubmit({"submit", "--in", "0", "true"}).spec.getDelayUsec(), 0u);
  EXPECT_EQ(acceptedSubmit({"submit", "true"}).spec.getDelayUsec(), 0u);
  EXPECT_EQ(refused({"submit", "--in", "soon", "true"}),
            "--in must be a duration like 30s, 10m or 2h, not 'soon'");
  refused({"submit", "--in", "-5s", "true"});
  refused({"submit", "--in", "", "true"});
}

TEST(Args, AtTakesAnIsoTimeInUtcOrWithAnOffset) {
  ZoneForTest zone("Europe/Berlin");
  EXPECT_EQ(acceptedSubmit({"submit", "--at", "2026-11-25T14:30Z", "true"}).spec.getNotBefore(),
            1795617000'000'000'000);
  EXPECT_EQ(
      acceptedSubmit({"submit", "--at=2026-11-25T14:30:00+01:00", "true"}).spec.getNotBefore(),
      1795613400'000'000'000);
  EXPECT_EQ(acceptedSubmit({"submit", "true"}).spec.getNotBefore(), 0);
}

TEST(Args, AtWithoutAnOffsetIsTheClientsLocalTime) {
  {
    ZoneForTest zone("UTC");
    EXPECT_EQ(acceptedSubmit({"submit", "--at", "2026-11-25 14:30", "true"}).spec.getNotBefore(),
              1795617000'000'000'000);
  }
  ZoneForTest zone("Europe/Berlin");
  EXPECT_EQ(acceptedSubmit({"submit", "--at", "2026-11-25 14:30", "true"}).spec.getNotBefore(),
            1795613400'000'000'000);
  EXPECT_EQ(refused({"submit", "--at", "2026-03-29T02:30", "true"}),
            "--at 2026-03-29T02:30 does not exist in local time (the clocks skip it); choose "
            "another time or add a UTC offset such as +01:00");
  EXPECT_EQ(refused({"submit", "--at", "2026-10-25T02:30", "true"}),
            "--at 2026-10-25T02:30 happens twice in local time (the clocks go back): add +02:00 "
            "for the first or +01:00 for the second");
}

TEST(Args, AtRefusesWhatIsNotATime) {
  ZoneForTest zone("UTC");
  EXPECT_EQ(refused({"submit", "--at", "tomorrow", "true"}),
            "--at must be a time like 2026-11-25T14:30, '2026-11-25 14:30:00' or "
            "2026-11-25T14:30+01:00, not 'tomorrow'");
  EXPECT_EQ(refused({"submit", "--at", "2026-02-30T10:00", "true"}),
            "--at 2026-02-30T10:00 is not a real date and time (month 1-12, a day the month has, "
            "hour 0-23, minute and second 0-59)");
  refused({"submit", "--at", "14:30", "true"});
  refused({"submit", "--at", "", "true"});
}

TEST(Args, InAndAtTogetherAreAUsageError) {
  ZoneForTest zone("UTC");
  EXPECT_EQ(refused({"submit", "--in", "5m", "--at", "2026-11-25T14:30", "true"}),
            "--in and --at cannot be used together");
  refused({"submit", "--at", "2026-11-25T14:30", "--in", "0", "true"});
}

// DESIGN 6's default for `--retries N` alone (exit, timeout, heartbeat) is the daemon's to apply
// (scheduler.c++, scheduling-test's RetriesAloneMeanExitTimeoutAndHeartbeat): taskctl sends the
// number and no condition.
TEST(Args, RetriesAloneSendsTheNumberAndNoCondition) {
  auto submit = acceptedSubmit({"submit", "--retries", "3", "true"});
  ASSERT_TRUE(submit.spec.hasRetry());
  auto retry = submit.spec.getRetry();
  EXPECT_EQ(retry.getRetries(), 3u);
  EXPECT_FALSE(retry.getOnExit());
  EXPECT_EQ(retry.getExitCodes().size(), 0u);
  EXPECT_FALSE(retry.getOnTimeout());
  EXPECT_FALSE(retry.getOnHeartbeat());
  EXPECT_FALSE(retry.getOnSignal());
  EXPECT_FALSE(retry.getOnOom());
  EXPECT_FALSE(retry.getOnLost());
  EXPECT_EQ(retry.getBackoffBaseUsec(), 0u);
  EXPECT_EQ(retry.getBackoffMaxUsec(), 0u);
  EXPECT_FALSE(acceptedSubmit({"submit", "true"}).spec.hasRetry());
}

TEST(Args, RetriesIsANumberFrom0To1000) {
  EXPECT_EQ(acceptedSubmit({"submit", "--retries", "0", "true"}).spec.getRetry().getRetries(), 0u);
  EXPECT_EQ(acceptedSubmit({"submit", "--retries=1000", "true"}).spec.getRetry().getRetries(),
            1000u);
  EXPECT_EQ(refused({"submit", "--retries", "1001", "true"}),
            "--retries must be a number from 0 to 1000, not '1001'");
  for (auto bad : {"-1", "x", "", "2.5", "+3", "99999999999999999999"}) {
    refused({"submit", "--retries", bad, "true"});
  }
}

TEST(Args, RetryOnListsOnlyWhatItNames) {
  auto submit = acceptedSubmit({"submit", "--retries", "2", "--retry-on", "exit:1,2,oom", "true"});
  ASSERT_TRUE(submit.spec.hasRetry());
  auto retry = submit.spec.getRetry();
  EXPECT_TRUE(retry.getOnExit());
  ASSERT_EQ(retry.getExitCodes().size(), 2u);
  EXPECT_EQ(retry.getExitCodes()[0], 1);
  EXPECT_EQ(retry.getExitCodes()[1], 2);
  EXPECT_TRUE(retry.getOnOom());
  EXPECT_FALSE(retry.getOnTimeout());
  EXPECT_FALSE(retry.getOnHeartbeat());
  EXPECT_FALSE(retry.getOnSignal());
  EXPECT_FALSE(retry.getOnLost());

  auto others = acceptedSubmit(
      {"submit", "--retry-on", "signal,timeout,heartbeat,lost", "--retries", "1", "true"});
  auto policy = others.spec.getRetry();
  EXPECT_FALSE(policy.getOnExit());
  EXPECT_TRUE(policy.getOnSignal());
  EXPECT_TRUE(policy.getOnTimeout());
  EXPECT_TRUE(policy.getOnHeartbeat());
  EXPECT_TRUE(policy.getOnLost());
  EXPECT_FALSE(policy.getOnOom());
}

TEST(Args, RetryOnIsRepeatableAndMerges) {
  auto submit = acceptedSubmit({"submit", "--retries", "1", "--retry-on", "exit:3",
                                "--retry-on=signal,lost", "--retry-on", "exit:4,3,255", "true"});
  ASSERT_TRUE(submit.spec.hasRetry());
  auto retry = submit.spec.getRetry();
  EXPECT_TRUE(retry.getOnExit());
  ASSERT_EQ(retry.getExitCodes().size(), 3u);  // each code once
  EXPECT_EQ(retry.getExitCodes()[0], 3);
  EXPECT_EQ(retry.getExitCodes()[1], 4);
  EXPECT_EQ(retry.getExitCodes()[2], 255);
  EXPECT_TRUE(retry.getOnSignal());
  EXPECT_TRUE(retry.getOnLost());
  // Any code covers the listed ones.
  auto any = acceptedSubmit(
      {"submit", "--retries", "1", "--retry-on", "exit:2", "--retry-on", "exit:any", "true"});
  EXPECT_TRUE(any.spec.getRetry().getOnExit());
  EXPECT_EQ(any.spec.getRetry().getExitCodes().size(), 0u);
}

TEST(Args, RetryOnRefusesWhatItDoesNotKnow) {
  auto refusedList = [](const char* list) {
    return refused({"submit", "--retries", "1", "--retry-on", list, "true"});
  };
  EXPECT_EQ(refusedList("oops"),
            "--retry-on takes exit:any, exit:CODES, signal, oom, timeout, heartbeat or lost, not "
            "'oops'");
  EXPECT_EQ(refusedList("oom,,signal"),
            "--retry-on has an empty item in 'oom,,signal' (items are separated by ',')");
  EXPECT_EQ(refusedList("3"),
            "--retry-on: '3' looks like an exit code; write exit:3 (more codes may follow: "
            "exit:1,2)");
  EXPECT_EQ(refusedList("exit:0"), "--retry-on exit codes must be 'any' or from 1 to 255, not '0'");
  EXPECT_EQ(refusedList("exit:1,256"), "--retry-on exit codes must be from 1 to 255, not '256'");
  EXPECT_EQ(refusedList("exit"),
            "--retry-on exit needs the codes: exit:any, or exit:CODE like exit:1,2");
  for (auto bad : {"", ",", "oom,", ",oom", "exit:", "exit:any,3", "exit:-1", "exit:1,x",
                   "exit:1, 2", "signal,2", "EXIT:1", "Oom", "exit:1,0", "exit:1;2"}) {
    refusedList(bad);
  }
}

TEST(Args, RetryOnAndBackoffNeedRetries) {
  EXPECT_EQ(refused({"submit", "--retry-on", "oom", "true"}), "--retry-on needs --retries N");
  EXPECT_EQ(refused({"submit", "--backoff", "5s", "true"}), "--backoff needs --retries N");
}

TEST(Args, BackoffTakesABaseAndAMaximum) {
  auto baseSubmit = acceptedSubmit({"submit", "--retries", "1", "--backoff", "5s", "true"});
  auto base = baseSubmit.spec.getRetry();
  EXPECT_EQ(base.getBackoffBaseUsec(), 5'000'000u);
  EXPECT_EQ(base.getBackoffMaxUsec(), 0u);  // the daemon's 10 min
  auto bothSubmit = acceptedSubmit({"submit", "--retries", "1", "--backoff=500ms,1m", "true"});
  auto both = bothSubmit.spec.getRetry();
  EXPECT_EQ(both.getBackoffBaseUsec(), 500'000u);
  EXPECT_EQ(both.getBackoffMaxUsec(), 60'000'000u);
  auto equalSubmit = acceptedSubmit({"submit", "--retries", "1", "--backoff", "1h,1h", "true"});
  auto equal = equalSubmit.spec.getRetry();
  EXPECT_EQ(equal.getBackoffBaseUsec(), 3'600'000'000u);
  EXPECT_EQ(equal.getBackoffMaxUsec(), 3'600'000'000u);
  EXPECT_EQ(acceptedSubmit({"submit", "--retries", "1", "--backoff", "10m", "true"})
                .spec.getRetry()
                .getBackoffBaseUsec(),
            600'000'000u);
}

TEST(Args, BackoffRefusesAMaximumBelowTheBase) {
  auto refusedBackoff = [](const char* text) {
    return refused({"submit", "--retries", "1", "--backoff", text, "true"});
  };
  EXPECT_EQ(refusedBackoff("1m,5s"), "--backoff MAX (5s) must not be below BASE (1min)");
  EXPECT_EQ(refusedBackoff("1h"),
            "--backoff 1h is above the default maximum (10m): add a MAX of at least 1h (--backoff "
            "1h,MAX)");
  EXPECT_EQ(refusedBackoff("soon"),
            "--backoff must be BASE or BASE,MAX, durations like 5s or 5s,10m, not 'soon'");
  for (auto bad : {"", "0", "0s,1m", "5s,0", "5s,", ",5s", "5s,1m,2m", "-5s", "5s;1m"}) {
    refusedBackoff(bad);
  }
}

TEST(Args, KeyTakesAConflictPolicyThatDefaultsToQueue) {
  auto submit = acceptedSubmit({"submit", "--key", "nightly-backup", "true"});
  EXPECT_EQ(submit.spec.getKey(), "nightly-backup");
  EXPECT_EQ(submit.spec.getOnConflict(), spec::KeyConflict::QUEUE);
  EXPECT_EQ(acceptedSubmit({"submit", "--key", "k", "--on-conflict", "skip", "true"})
                .spec.getOnConflict(),
            spec::KeyConflict::SKIP);
  EXPECT_EQ(
      acceptedSubmit({"submit", "--on-conflict=replace", "--key=k", "true"}).spec.getOnConflict(),
      spec::KeyConflict::REPLACE);
  EXPECT_EQ(acceptedSubmit({"submit", "--key", "k", "--on-conflict", "queue", "true"})
                .spec.getOnConflict(),
            spec::KeyConflict::QUEUE);
  EXPECT_EQ(acceptedSubmit({"submit", "true"}).spec.getKey(), "");
}

TEST(Args, OnConflictNeedsAKeyAndAKnownPolicy) {
  EXPECT_EQ(refused({"submit", "--on-conflict", "skip", "true"}), "--on-conflict needs --key K");
  EXPECT_EQ(refused({"submit", "--key", "k", "--on-conflict", "ignore", "true"}),
            "--on-conflict must be replace, skip or queue, not 'ignore'");
  refused({"submit", "--key", "k", "--on-conflict", "", "true"});
  refused({"submit", "--key", "k", "--on-conflict", "Skip", "true"});
}

TEST(Args, KeysAndRequestIdsAreShortTextWithoutControlCharacters) {
  for (auto option : {"--key", "--request-id"}) {
    EXPECT_EQ(refused({"submit", option, "", "true"}), kj::str(option, " must not be empty"));
    auto longest = kj::str(kj::repeat('k', 256));
    auto tooLong = kj::str(kj::repeat('k', 257));
    accepted({"submit", option, longest.cStr(), "true"});
    EXPECT_EQ(refused({"submit", option, tooLong.cStr(), "true"}),
              kj::str(option, " must be at most 256 bytes, not 257"));
    EXPECT_EQ(refused({"submit", option, "a\tb", "true"}),
              kj::str(option, " must be UTF-8 text without control characters"));
    refused({"submit", option, "a\nb", "true"});
    refused({"submit", option, "\x1b[2J", "true"});
    refused({"submit", option, "a\x7f", "true"});
    refused({"submit", option, "\xc2\x9b", "true"});  // C1 CSI
    refused({"submit", option, "\xff", "true"});      // not UTF-8
    accepted({"submit", option, "ключ 7", "true"});
    accepted({"submit", option, "3f2c9a4e-1b7d-4c1e-9a55-0e8d5b7c6a21", "true"});
  }
  auto submit = acceptedSubmit({"submit", "--request-id=deploy-42", "true"});
  EXPECT_EQ(submit.spec.getRequestId(), "deploy-42");
  EXPECT_EQ(acceptedSubmit({"submit", "true"}).spec.getRequestId(), "");
}

TEST(Args, SchedulingOptionsEndAtTheCommandLikeTheOthers) {
  auto submit = acceptedSubmit({"submit", "--key", "k", "sh", "--key", "x"});
  EXPECT_EQ(submit.spec.getKey(), "k");
  ASSERT_EQ(submit.spec.getArgv().size(), 3u);
  EXPECT_EQ(arg(submit.spec, 1), "--key");
}

TEST(Args, ListTakesLabelsAndAllUsers) {
  auto invocation = accepted({"list", "--label", "team=infra", "--label=run=7", "--all-users"});
  auto& list = invocation.command.get<ListArgs>();
  ASSERT_EQ(list.labels.size(), 2u);
  EXPECT_EQ(list.labels[0].key, "team");
  EXPECT_EQ(list.labels[0].value, "infra");
  EXPECT_EQ(list.labels[1].key, "run");
  EXPECT_EQ(list.labels[1].value, "7");
  EXPECT_TRUE(list.allUsers);
  auto plain = accepted({"list"});
  EXPECT_EQ(plain.command.get<ListArgs>().labels.size(), 0u);
  EXPECT_FALSE(plain.command.get<ListArgs>().allUsers);
  EXPECT_EQ(refused({"list", "--label", "team"}), "--label needs KEY=VALUE, not 'team'");
  EXPECT_EQ(refused({"list", "--all-users=yes"}), "option --all-users takes no value");
  refused({"list", "--label"});
}

TEST(Args, ListTakesALimitOfOneOrMore) {
  EXPECT_EQ(accepted({"list", "--limit", "20"}).command.get<ListArgs>().limit, 20u);
  EXPECT_EQ(accepted({"list", "--limit=1"}).command.get<ListArgs>().limit, 1u);
  EXPECT_EQ(accepted({"list"}).command.get<ListArgs>().limit, 0u) << "no limit: every match";
  EXPECT_EQ(refused({"list", "--limit", "0"}), "--limit needs a number of tasks from 1, not '0'");
  EXPECT_EQ(refused({"list", "--limit", "-3"}), "--limit needs a number of tasks from 1, not '-3'");
  EXPECT_EQ(refused({"list", "--limit", "4294967296"}),
            "--limit needs a number of tasks from 1, not '4294967296'");
  refused({"list", "--limit"});
}

TEST(Args, QueueListTakesNoArguments) {
  EXPECT_TRUE(accepted({"queue", "list"}).command.is<QueueListArgs>());
  auto json = accepted({"queue", "--json", "list"});
  EXPECT_TRUE(json.command.is<QueueListArgs>());
  EXPECT_TRUE(json.global.json);
  EXPECT_TRUE(accepted({"--json", "queue", "list"}).global.json);
  EXPECT_TRUE(accepted({"queue", "list", "--json"}).global.json);
  EXPECT_EQ(refused({"queue", "list", "default"}), "queue list takes no arguments, got 'default'");
  refused({"queue", "list", "--all"});
}

TEST(Args, QueueNeedsAKnownSubcommand) {
  EXPECT_EQ(refused({"queue"}), "queue needs a subcommand: list, set, pause or resume");
  refused({"queue", "--json"});
  EXPECT_EQ(refused({"queue", "drain", "q"}),
            "unknown queue subcommand 'drain' (list, set, pause or resume)");
  refused({"queue", "--bogus", "list"});
  refused({"queue", "List"});
}

TEST(Args, QueueSetTakesAConcurrencyOrDefault) {
  auto invocation = accepted({"queue", "set", "batch", "--concurrency", "8"});
  auto& set = invocation.command.get<QueueSetArgs>();
  EXPECT_EQ(set.name, "batch");
  EXPECT_EQ(set.concurrency, 8u);
  EXPECT_FALSE(set.useDefault);
  auto reset = accepted({"queue", "set", "--concurrency=default", "batch"});
  EXPECT_TRUE(reset.command.get<QueueSetArgs>().useDefault);
  EXPECT_EQ(reset.command.get<QueueSetArgs>().concurrency, 0u);
  EXPECT_EQ(
      accepted({"queue", "set", "q", "--concurrency", "1"}).command.get<QueueSetArgs>().concurrency,
      1u);
  EXPECT_EQ(accepted({"queue", "set", "q", "--concurrency", "10000"})
                .command.get<QueueSetArgs>()
                .concurrency,
            10000u);
  // The last one given counts.
  auto last = accepted({"queue", "set", "q", "--concurrency", "default", "--concurrency", "3"});
  EXPECT_FALSE(last.command.get<QueueSetArgs>().useDefault);
  EXPECT_EQ(last.command.get<QueueSetArgs>().concurrency, 3u);
}

TEST(Args, QueueSetRefusesABadConcurrency) {
  EXPECT_EQ(refused({"queue", "set", "q", "--concurrency", "0"}),
            "--concurrency must be a number from 1 to 10000, or default, not '0'");
  for (auto bad : {"10001", "-1", "x", "", "Default", "4.5", "99999999999999999999"}) {
    refused({"queue", "set", "q", "--concurrency", bad});
  }
  EXPECT_EQ(refused({"queue", "set", "q"}),
            "queue set needs --concurrency N (1 to 10000) or --concurrency default");
  EXPECT_EQ(refused({"queue", "set", "q", "--concurrency"}), "option --concurrency needs a value");
}

TEST(Args, QueueSetPauseAndResumeTakeExactlyOneName) {
  EXPECT_EQ(refused({"queue", "set", "--concurrency", "2"}),
            "queue set needs exactly one queue name: taskctl queue set QUEUE --concurrency N");
  refused({"queue", "set", "a", "b", "--concurrency", "2"});
  EXPECT_EQ(refused({"queue", "pause"}),
            "queue pause needs exactly one queue name: taskctl queue pause QUEUE");
  refused({"queue", "resume", "a", "b"});
  EXPECT_EQ(refused({"queue", "pause", ""}), "a queue name must not be empty");
  refused({"queue", "pause", "--concurrency", "2", "q"});
}

TEST(Args, QueuePauseAndResume) {
  auto pause = accepted({"queue", "pause", "batch"});
  EXPECT_EQ(pause.command.get<QueuePauseArgs>().name, "batch");
  EXPECT_TRUE(pause.command.get<QueuePauseArgs>().paused);
  auto resume = accepted({"queue", "resume", "--", "batch"});
  EXPECT_EQ(resume.command.get<QueuePauseArgs>().name, "batch");
  EXPECT_FALSE(resume.command.get<QueuePauseArgs>().paused);
}

TEST(Args, ProgressTakesAFractionOrAPercentageAndOneText) {
  auto plain = accepted({"progress", "0.4"});
  EXPECT_EQ(plain.command.get<ProgressArgs>().fraction, 0.4);
  EXPECT_TRUE(plain.command.get<ProgressArgs>().text == nullptr);
  auto withText = accepted({"progress", "40%", "copying files"});
  EXPECT_EQ(withText.command.get<ProgressArgs>().fraction, 0.4);
  EXPECT_EQ(KJ_ASSERT_NONNULL(withText.command.get<ProgressArgs>().text), "copying files");
  // The text is taken as it is, even when it looks like an option.
  auto dashed = accepted({"progress", "1", "--- done ---"});
  EXPECT_EQ(KJ_ASSERT_NONNULL(dashed.command.get<ProgressArgs>().text), "--- done ---");
  EXPECT_EQ(accepted({"progress", "--", "0"}).command.get<ProgressArgs>().fraction, 0);
  EXPECT_EQ(accepted({"progress", "1"}).command.get<ProgressArgs>().fraction, 1);
  EXPECT_EQ(accepted({"progress", "100%"}).command.get<ProgressArgs>().fraction, 1);
  EXPECT_EQ(accepted({"progress", ".25"}).command.get<ProgressArgs>().fraction, 0.25);
  EXPECT_EQ(accepted({"progress", "0.3"}).command.get<ProgressArgs>().fraction, 0.3);
  EXPECT_EQ(accepted({"progress", "12.5%"}).command.get<ProgressArgs>().fraction, 0.125);
}

TEST(Args, ProgressOutOfRangeOrMalformedIsAUsageError) {
  EXPECT_EQ(refused({"progress", "1.5"}),
            "progress must be a fraction from 0 to 1 like 0.4, or a percentage like 40%, not "
            "'1.5'");
  EXPECT_EQ(refused({"progress", "-0.5"}),
            "progress must be a fraction from 0 to 1 like 0.4, or a percentage like 40%, not "
            "'-0.5'");
  for (auto bad : {"101%", "half", "", "%", ".", "1e-1", "0x1", " 0.5", "0.5 ", "0,5", "+0.5",
                   "50%%", "nan", "99999999999999999999"}) {
    refused({"progress", bad});
  }
  EXPECT_EQ(refused({"progress"}), "progress needs a fraction: taskctl progress FRACTION [TEXT]");
  EXPECT_EQ(refused({"progress", "0.5", "two", "words"}),
            "progress takes FRACTION and one TEXT; quote the text if it has spaces");
  EXPECT_EQ(refused({"progress", "0.5", "two\nlines"}), "progress TEXT must be one line");
  EXPECT_EQ(refused({"progress", "0.5", "\xff"}), "progress TEXT must be UTF-8 text");
  refused({"progress", "--bogus", "0.5"});
}

TEST(Args, ProgressFractionsParseExactly) {
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseProgressFraction("0.1")), 0.1);
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseProgressFraction("0.7")), 0.7);
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseProgressFraction("1.000")), 1.0);
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseProgressFraction("0.12345678901234567890")), 0.123456789012345);
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseProgressFraction("0%")), 0.0);
  EXPECT_TRUE(parseProgressFraction("1.0000001") == nullptr);
}

TEST(Args, HelpWinsWhereverItIs) {
  EXPECT_TRUE(accepted({"--help"}).command.is<HelpArgs>());
  EXPECT_TRUE(accepted({"-h"}).command.is<HelpArgs>());
  EXPECT_TRUE(accepted({"help"}).command.is<HelpArgs>());
  EXPECT_TRUE(accepted({"status", "--help"}).command.is<HelpArgs>());
  EXPECT_TRUE(accepted({"submit", "--help", "--", "x"}).command.is<HelpArgs>());
  // After the command's first word, --help is the command's.
  EXPECT_TRUE(accepted({"submit", "grep", "--help"}).command.is<SubmitArgs>());
  EXPECT_TRUE(accepted({"--version"}).command.is<VersionArgs>());
}

TEST(Args, SocketComesFromTheOptionThenTheEnvironmentThenTheDefault) {
  GlobalOptions none;
  GlobalOptions given;
  given.socket = kj::str("/opt/s");
  EXPECT_EQ(resolveSocketPath(given, kj::StringPtr("/env/s")), "/opt/s");
  EXPECT_EQ(resolveSocketPath(none, kj::StringPtr("/env/s")), "/env/s");
  EXPECT_EQ(resolveSocketPath(none, kj::StringPtr("")), "/run/taskctl/taskctl.sock");
  EXPECT_EQ(resolveSocketPath(none, nullptr), "/run/taskctl/taskctl.sock");
}

TEST(Args, NumbersParseStrictly) {
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseSigned("-9223372036854775808")), INT64_MIN);
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseSigned("9223372036854775807")), INT64_MAX);
  EXPECT_TRUE(parseSigned("9223372036854775808") == nullptr);
  EXPECT_TRUE(parseSigned("-") == nullptr);
  EXPECT_TRUE(parseSigned("--1") == nullptr);
  EXPECT_EQ(KJ_ASSERT_NONNULL(parseUnsigned("007")), 7u);
  EXPECT_TRUE(parseUnsigned("+7") == nullptr);
}

TEST(Args, WatchTakesAFromSeqProgressAndIds) {
  auto invocation = accepted({"watch", "--from", "1234", "7", "--progress", "9"});
  auto& watch = invocation.command.get<WatchArgs>();
  EXPECT_EQ(watch.from, 1234u);
  EXPECT_TRUE(watch.progress);
  ASSERT_EQ(watch.ids.size(), 2u);
  EXPECT_EQ(watch.ids[0], 7u);
  EXPECT_EQ(watch.ids[1], 9u);
  EXPECT_EQ(accepted({"watch", "--from=5"}).command.get<WatchArgs>().from, 5u);
  EXPECT_TRUE(accepted({"--json", "watch"}).global.json);
}

TEST(Args, WatchWithoutFromStartsNowAndWithoutIdsWatchesEverything) {
  auto invocation = accepted({"watch"});
  auto& watch = invocation.command.get<WatchArgs>();
  EXPECT_EQ(watch.from, 0u);
  EXPECT_FALSE(watch.progress);
  EXPECT_EQ(watch.ids.size(), 0u);
}

TEST(Args, WatchRefusesAFromThatIsNotASeq) {
  EXPECT_EQ(refused({"watch", "--from", "0"}),
            "--from needs a sequence number from 1 (status and list --json show last_seq), not "
            "'0'");
  refused({"watch", "--from", "-3"});
  refused({"watch", "--from", "x"});
  refused({"watch", "--from"});
  EXPECT_EQ(refused({"watch", "abc"}), "not a task id: 'abc'");
  EXPECT_EQ(refused({"watch", "--progress=1"}), "option --progress takes no value");
  refused({"watch", "--since", "3"});
}

}  // namespace
}  // namespace taskctl

namespace taskctl {
namespace {

TEST(ScheduleArgs, AddTakesTheNameCalendarItsOwnOptionsAndSubmitsThenTheCommand) {
  auto invocation = accepted({"schedule", "add", "tick", "--on-calendar", "*:*:0/10", "--accuracy",
                              "1s", "--persistent", "--queue", "batch", "--label", "a=b",
                              "--timeout", "90s", "--", "sh", "-c", "echo 100% $HOME"});
  ASSERT_TRUE(invocation.command.is<ScheduleAddArgs>());
  auto& add = invocation.command.get<ScheduleAddArgs>();
  EXPECT_EQ(add.name, "tick");
  EXPECT_EQ(add.onCalendar, "*:*:0/10");
  EXPECT_EQ(add.accuracyUsec, 1000000u);
  EXPECT_TRUE(add.persistent);
  EXPECT_EQ(add.submit.spec.getQueue(), "batch");
  ASSERT_EQ(add.submit.spec.getLabels().size(), 1u);
  EXPECT_EQ(add.submit.spec.getLabels()[0].getKey(), "a");
  EXPECT_EQ(add.submit.spec.getLimits().getTimeoutUsec(), 90000000u);
  ASSERT_EQ(add.submit.spec.getArgv().size(), 3u);
  EXPECT_EQ(arg(add.submit.spec, 2), "echo 100% $HOME");
}

TEST(ScheduleArgs, AddWithoutOptionsIsNotPersistentAndHasSystemdsAccuracy) {
  auto invocation = accepted({"schedule", "add", "n", "--on-calendar=daily", "--", "true"});
  auto& add = invocation.command.get<ScheduleAddArgs>();
  EXPECT_FALSE(add.persistent);
  EXPECT_EQ(add.accuracyUsec, 0u);
  EXPECT_EQ(add.onCalendar, "daily");
}

TEST(ScheduleArgs, AddRefusesWhatCannotBeScheduled) {
  EXPECT_NE(strstr(refused({"schedule", "add", "tick", "--", "true"}).cStr(), "--on-calendar"),
            nullptr);
  EXPECT_NE(
      strstr(refused({"schedule", "add", "a.b", "--on-calendar", "daily", "--", "true"}).cStr(),
             "schedule name"),
      nullptr);
  EXPECT_NE(strstr(refused({"schedule", "add", "--on-calendar", "daily", "--", "true"}).cStr(),
                   "NAME first"),
            nullptr);
  for (auto option :
       {"--wait", "--in=5s", "--at=2030-01-01T00:00", "--after=3", "--request-id=r"}) {
    auto message =
        refused({"schedule", "add", "t", "--on-calendar", "daily", option, "--", "true"});
    EXPECT_NE(strstr(message.cStr(), "does not apply to a schedule"), nullptr) << option;
  }
  EXPECT_NE(strstr(refused({"schedule", "add", "t", "--on-calendar", "daily", "--label",
                            "schedule=x", "--", "true"})
                       .cStr(),
                   "set by taskctl"),
            nullptr);
  EXPECT_NE(
      strstr(refused({"schedule", "add", "t", "--on-calendar", "daily"}).cStr(), "needs a command"),
      nullptr);
  EXPECT_NE(strstr(refused({"schedule", "add", "t", "--on-calendar", "daily", "--accuracy", "x",
                            "--", "true"})
                       .cStr(),
                   "--accuracy"),
            nullptr);
}

TEST(ScheduleArgs, ListAndRemove) {
  EXPECT_TRUE(accepted({"schedule", "list"}).command.is<ScheduleListArgs>());
  auto json = accepted({"--json", "schedule", "list"});
  EXPECT_TRUE(json.global.json);
  auto remove = accepted({"schedule", "remove", "tick"});
  ASSERT_TRUE(remove.command.is<ScheduleRemoveArgs>());
  EXPECT_EQ(remove.command.get<ScheduleRemoveArgs>().name, "tick");
  EXPECT_NE(strstr(refused({"schedule", "remove"}).cStr(), "exactly one name"), nullptr);
  EXPECT_NE(strstr(refused({"schedule", "list", "x"}).cStr(), "no arguments"), nullptr);
  EXPECT_NE(strstr(refused({"schedule"}).cStr(), "add, list or remove"), nullptr);
  EXPECT_NE(strstr(refused({"schedule", "edit"}).cStr(), "unknown schedule subcommand"), nullptr);
}

TEST(ScheduleArgs, RemoveTakesWhoseWithUserAsWritten) {
  auto plain = accepted({"schedule", "remove", "tick"});
  EXPECT_EQ(plain.command.get<ScheduleRemoveArgs>().user, nullptr);
  for (auto words :
       {std::initializer_list<const char*>{"schedule", "remove", "tick", "--user", "ann"},
        std::initializer_list<const char*>{"schedule", "remove", "--user=ann", "tick"},
        std::initializer_list<const char*>{"--json", "schedule", "remove", "tick", "--user",
                                           "ann"}}) {
    auto invocation = accepted(words);
    ASSERT_TRUE(invocation.command.is<ScheduleRemoveArgs>());
    auto& remove = invocation.command.get<ScheduleRemoveArgs>();
    EXPECT_EQ(remove.name, "tick");
    // Resolved later (it reads /etc/passwd): the parser keeps what was written.
    EXPECT_EQ(KJ_ASSERT_NONNULL(remove.user), "ann");
  }
  auto uid = accepted({"schedule", "remove", "tick", "--user", "1001"});
  EXPECT_EQ(KJ_ASSERT_NONNULL(uid.command.get<ScheduleRemoveArgs>().user), "1001");
  EXPECT_EQ(refused({"schedule", "remove", "tick", "--user"}), "option --user needs a value");
  EXPECT_EQ(refused({"schedule", "remove", "tick", "--user="}),
            "--user needs a user name or a numeric uid");
  EXPECT_NE(strstr(refused({"schedule", "remove", "--user", "ann"}).cStr(), "exactly one name"),
            nullptr);
  EXPECT_NE(strstr(refused({"schedule", "remove", "tick", "--owner", "ann"}).cStr(),
                   "unknown option --owner"),
            nullptr);
  // Only remove takes it.
  EXPECT_NE(strstr(refused({"schedule", "list", "--user", "ann"}).cStr(), "unknown option --user"),
            nullptr);
}

// ---- Retries that grow a limit, rerun (issue 16) ----

TEST(Args, GrowthOptionsGoInTheRetryPolicy) {
  auto submit =
      acceptedSubmit({"submit", "--memory", "50M", "--retries", "2", "--retry-on", "oom,timeout",
                      "--memory-grow", "2x", "--memory-max", "256M", "--timeout", "1s",
                      "--timeout-grow", "1.5x", "--timeout-max", "6h", "true"});
  auto retry = submit.spec.getRetry();
  EXPECT_EQ(retry.getMemoryGrowFactor(), 2);
  EXPECT_EQ(retry.getMemoryGrowMaxBytes(), 256u << 20);
  EXPECT_EQ(retry.getTimeoutGrowFactor(), 1.5);
  EXPECT_EQ(retry.getTimeoutGrowMaxUsec(), 6ull * 3600 * 1000000);
  // The x is optional.
  EXPECT_EQ(acceptedSubmit({"submit", "--timeout", "1s", "--retries", "1", "--retry-on", "timeout",
                            "--timeout-grow", "3", "true"})
                .spec.getRetry()
                .getTimeoutGrowFactor(),
            3);
}

TEST(Args, GrowthNeedsItsConditionAFactorAboveOneAndAMaximumNotBelowTheLimit) {
  EXPECT_EQ(refused({"submit", "--memory", "50M", "--retries", "1", "--memory-grow", "2x", "true"}),
            "--memory-grow needs --retry-on oom (it grows the memory limit of a retry after a "
            "memory kill)");
  EXPECT_EQ(refused({"submit", "--timeout", "1s", "--retries", "1", "--retry-on", "exit:any",
                     "--timeout-grow", "2x", "true"}),
            "--timeout-grow needs --retry-on timeout (it grows the timeout of a retry after a "
            "timeout)");
  for (auto bad : {"1x", "0.5x", "x", "2xx", "-2x", "1e3x", "101x", "inf", ""}) {
    EXPECT_EQ(refused({"submit", "--timeout", "1s", "--retries", "1", "--retry-on", "timeout",
                       "--timeout-grow", bad, "true"}),
              kj::str("--timeout-grow must be a factor above 1 and at most 100x, like 2x or "
                      "1.5x, not '",
                      bad, "'"))
        << bad;
  }
  EXPECT_EQ(refused({"submit", "--memory", "1G", "--retries", "1", "--retry-on", "oom",
                     "--memory-grow", "2x", "--memory-max", "512M", "true"}),
            "--memory-max (512M) must not be below --memory (1G)");
  EXPECT_EQ(refused({"submit", "--timeout", "1h", "--retries", "1", "--retry-on", "timeout",
                     "--timeout-grow", "2x", "--timeout-max", "30m", "true"}),
            "--timeout-max (30min) must not be below --timeout (1h)");
  EXPECT_EQ(
      refused({"submit", "--retries", "1", "--retry-on", "oom", "--memory-max", "1G", "true"}),
      "--memory-max needs --memory-grow");
  EXPECT_EQ(
      refused({"submit", "--retries", "1", "--retry-on", "timeout", "--timeout-max", "1h", "true"}),
      "--timeout-max needs --timeout-grow");
}

RerunArgs acceptedRerun(std::initializer_list<const char*> words) {
  auto invocation = accepted(words);
  if (!invocation.command.is<RerunArgs>()) {
    ADD_FAILURE() << "not a rerun";
    return RerunArgs{0, SubmitArgs()};
  }
  return kj::mv(invocation.command.get<RerunArgs>());
}

kj::String givenOf(const RerunArgs& rerun) { return kj::strArray(rerun.submit.given, " "); }

TEST(Args, RerunTakesAnIdThenSubmitOptionsAndOptionallyACommand) {
  auto plain = acceptedRerun({"rerun", "12"});
  EXPECT_EQ(plain.id, 12u);
  EXPECT_EQ(givenOf(plain), "");
  EXPECT_EQ(plain.submit.spec.getArgv().size(), 0u);

  auto rerun = acceptedRerun({"--json", "rerun",   "7",   "--queue",      "q",  "--label",
                              "a=b",    "--label", "c=d", "--timeout",    "1m", "--memory",
                              "1G",     "--after", "3",   "--in",         "5s", "--retries",
                              "2",      "--key",   "k",   "--request-id", "r",  "--",
                              "echo",   "hi"});
  EXPECT_EQ(rerun.id, 7u);
  EXPECT_EQ(givenOf(rerun),
            "queue labels limits.timeoutUsec limits.memoryMaxBytes after delayUsec retry key "
            "requestId argv");
  EXPECT_EQ(rerun.submit.spec.getQueue(), "q");
  EXPECT_EQ(rerun.submit.spec.getLabels().size(), 2u);
  EXPECT_EQ(arg(rerun.submit.spec, 1), "hi");
  // --on-conflict alone: the old task's key may be the one meant.
  EXPECT_EQ(givenOf(acceptedRerun({"rerun", "7", "--on-conflict", "skip"})), "onConflict");
  auto waited = acceptedRerun({"rerun", "7", "--wait", "--at", "2030-01-01T00:00Z"});
  EXPECT_TRUE(waited.submit.wait);
  EXPECT_EQ(givenOf(waited), "notBefore");
}

TEST(Args, RerunNeedsTheIdFirst) {
  EXPECT_EQ(refused({"rerun"}), "rerun needs a task id: taskctl rerun ID [OPTIONS] [-- CMD...]");
  EXPECT_EQ(refused({"rerun", "--queue", "q", "12"}),
            "rerun needs the task id first: taskctl rerun ID [OPTIONS] [-- CMD...]");
  EXPECT_NE(refused({"rerun", "x"}), "");
  EXPECT_NE(refused({"rerun", "12", "--nosuch"}), "");
}

// ---- edit (issue 16) ----

TEST(Args, EditTakesAnIdThenWhatToChange) {
  auto invocation = accepted({"--json", "edit", "7", "--priority", "-3", "--queue", "q", "--in",
                              "5m", "--", "echo", "hi"});
  ASSERT_TRUE(invocation.command.is<EditArgs>());
  auto& edit = invocation.command.get<EditArgs>();
  EXPECT_EQ(edit.id, 7u);
  EXPECT_EQ(kj::strArray(edit.submit.given, " "), "priority queue delayUsec argv");
  EXPECT_EQ(edit.submit.spec.getPriority(), -3);
  EXPECT_EQ(arg(edit.submit.spec, 1), "hi");
  EXPECT_TRUE(invocation.global.json);
}

TEST(Args, EditRefusesNothingToChangeAndWhatIsNotPartOfATask) {
  EXPECT_EQ(refused({"edit"}), "edit needs a task id: taskctl edit ID [OPTIONS] [-- CMD...]");
  EXPECT_EQ(refused({"edit", "7"}),
            "edit needs something to change: taskctl edit ID [OPTIONS] [-- CMD...]");
  EXPECT_EQ(refused({"edit", "--priority", "1", "7"}),
            "edit needs the task id first: taskctl edit ID [OPTIONS] [-- CMD...]");
  EXPECT_EQ(refused({"edit", "7", "--wait", "--priority", "1"}),
            "edit takes no --wait (taskctl wait ID waits for the task)");
  EXPECT_EQ(refused({"edit", "7", "--hold"}),
            "edit takes no --hold (taskctl hold ID holds the task)");
  EXPECT_EQ(refused({"edit", "7", "--request-id", "r"}),
            "edit cannot change a task's --request-id");
  EXPECT_NE(refused({"edit", "7", "--priority", "101"}), "");
}

TEST(Args, DrainTakesWaitAndUndrainTakesNothing) {
  auto drain = accepted({"drain"});
  ASSERT_TRUE(drain.command.is<DrainArgs>());
  EXPECT_TRUE(drain.command.get<DrainArgs>().drained);
  EXPECT_FALSE(drain.command.get<DrainArgs>().wait);
  auto waiting = accepted({"--json", "drain", "--wait"});
  ASSERT_TRUE(waiting.command.is<DrainArgs>());
  EXPECT_TRUE(waiting.command.get<DrainArgs>().wait);
  EXPECT_TRUE(waiting.global.json);
  auto undrain = accepted({"undrain"});
  ASSERT_TRUE(undrain.command.is<DrainArgs>());
  EXPECT_FALSE(undrain.command.get<DrainArgs>().drained);
  EXPECT_EQ(refused({"undrain", "--wait"}), "unknown option --wait (see taskctl --help)");
  EXPECT_EQ(refused({"drain", "q"}), "drain takes no argument ('q')");
}

}  // namespace
}  // namespace taskctl
