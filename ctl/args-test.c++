#include "args.h"

#include <gtest/gtest.h>
#include <kj/debug.h>

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
  EXPECT_EQ(submit.queue, "batch");
  EXPECT_EQ(submit.priority, 7);
  ASSERT_EQ(submit.labels.size(), 2u);
  EXPECT_EQ(submit.labels[0].key, "a");
  EXPECT_EQ(submit.labels[0].value, "b");
  EXPECT_EQ(submit.labels[1].key, "team");
  EXPECT_EQ(submit.labels[1].value, "infra");
  EXPECT_TRUE(submit.wait);
  ASSERT_EQ(submit.command.size(), 3u);
  EXPECT_EQ(submit.command[0], "sh");
  EXPECT_EQ(submit.command[2], "echo --json");
  EXPECT_FALSE(invocation.global.json);
}

TEST(Args, SubmitCommandStartsAtItsFirstWordWithoutDoubleDash) {
  auto invocation = accepted({"submit", "--json", "echo", "--json", "--", "x"});
  auto& submit = invocation.command.get<SubmitArgs>();
  EXPECT_TRUE(invocation.global.json);
  ASSERT_EQ(submit.command.size(), 4u);
  EXPECT_EQ(submit.command[1], "--json");
  EXPECT_EQ(submit.command[2], "--");
}

TEST(Args, SubmitKeepsADoubleDashThatBelongsToTheCommand) {
  auto invocation = accepted({"submit", "--", "--", "x"});
  auto& submit = invocation.command.get<SubmitArgs>();
  ASSERT_EQ(submit.command.size(), 2u);
  EXPECT_EQ(submit.command[0], "--");
}

TEST(Args, SubmitWithoutACommandIsAUsageError) {
  EXPECT_EQ(refused({"submit", "--"}),
            "submit needs a command: taskctl submit [OPTIONS] -- CMD [ARGS...]");
  refused({"submit"});
  refused({"submit", "--wait"});
}

TEST(Args, PriorityMustBeAnIntegerFromMinus100To100) {
  EXPECT_EQ(accepted({"submit", "--priority", "-100", "true"}).command.get<SubmitArgs>().priority,
            -100);
  EXPECT_EQ(accepted({"submit", "--priority=100", "true"}).command.get<SubmitArgs>().priority, 100);
  EXPECT_EQ(accepted({"submit", "--priority", "+3", "true"}).command.get<SubmitArgs>().priority, 3);
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
  auto& labels = invocation.command.get<SubmitArgs>().labels;
  EXPECT_EQ(labels[0].value, "");
  EXPECT_EQ(labels[1].value, "a=b");
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
  EXPECT_EQ(submit.timeoutUsec, 5'400'000'000u);
  EXPECT_EQ(submit.killGraceUsec, 500'000u);
  EXPECT_EQ(submit.heartbeatUsec, 30'000'000u);
  EXPECT_EQ(submit.cpuQuotaPerSecUsec, 500'000u);
  EXPECT_EQ(submit.memoryMaxBytes, 512u << 20);
  EXPECT_EQ(submit.tasksMax, 64u);
  EXPECT_EQ(accepted({"submit", "--timeout", "90", "true"}).command.get<SubmitArgs>().timeoutUsec,
            90'000'000u);  // a bare number is seconds, as in systemd
  EXPECT_EQ(accepted({"submit", "--cpu=200%", "true"}).command.get<SubmitArgs>().cpuQuotaPerSecUsec,
            2'000'000u);
  EXPECT_EQ(accepted({"submit", "--memory", "2G", "true"}).command.get<SubmitArgs>().memoryMaxBytes,
            2ull << 30);
}

TEST(Args, LimitsLeftOutAreZero) {
  auto invocation = accepted({"submit", "true"});
  auto& submit = invocation.command.get<SubmitArgs>();
  EXPECT_EQ(submit.timeoutUsec, 0u);
  EXPECT_EQ(submit.killGraceUsec, 0u);
  EXPECT_EQ(submit.heartbeatUsec, 0u);
  EXPECT_EQ(submit.cpuQuotaPerSecUsec, 0u);
  EXPECT_EQ(submit.memoryMaxBytes, 0u);
  EXPECT_EQ(submit.tasksMax, 0u);
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

}  // namespace
}  // namespace taskctl
