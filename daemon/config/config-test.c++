#include "config/config.h"

#include <gtest/gtest.h>
#include <kj/debug.h>

namespace taskctl {
namespace {

// The message a person would see for `text`, or "" if it parsed.
std::string errorOf(kj::StringPtr text) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { parseConfig(text, "taskctld.toml"); })) {
    return e->getDescription().cStr();
  }
  return "";
}

TEST(Config, EmptyFileGivesTheDefaultQueue) {
  auto config = parseConfig("", "x.toml");
  ASSERT_EQ(config.queues.size(), 1u);
  EXPECT_EQ(config.queues[0].name, "default");
  EXPECT_GE(config.queues[0].concurrency, 1u);
  EXPECT_EQ(config.stateDir, "/var/lib/taskctl");
}

TEST(Config, ReadsQueuesAndOverridesDefault) {
  auto config = parseConfig(
      "[queues.default]\nconcurrency = 3\n[queues.batch]\nconcurrency = 2\n"
      "[daemon]\nstate_dir = \"/tmp/x\"\nrunner = \"direct\"\n",
      "x.toml");
  ASSERT_EQ(config.queues.size(), 2u);
  EXPECT_EQ(config.findQueue("default").map([](auto& q) { return q.concurrency; }).orDefault(0),
            3u);
  EXPECT_EQ(config.findQueue("batch").map([](auto& q) { return q.concurrency; }).orDefault(0), 2u);
  EXPECT_EQ(config.stateDir, "/tmp/x");
  EXPECT_EQ(config.runner, "direct");
}

TEST(Config, ReadsQueueLimitsInPeoplesUnits) {
  auto config = parseConfig(
      "[queues.batch]\ntimeout = \"1h\"\nmemory = \"512M\"\ncpu = \"50%\"\n"
      "kill_grace = \"5s\"\nheartbeat = \"30s\"\ntasks_max = 64\n",
      "x.toml");
  auto& q = KJ_ASSERT_NONNULL(config.findQueue("batch"));
  EXPECT_EQ(q.timeoutUsec, 3600000000u);
  EXPECT_EQ(q.memoryMaxBytes, 512u << 20);
  EXPECT_EQ(q.cpuQuotaPerSecUsec, 500000u);
  EXPECT_EQ(q.killGraceUsec, 5000000u);
  EXPECT_EQ(q.heartbeatUsec, 30000000u);
  EXPECT_EQ(q.tasksMax, 64u);
  auto error = errorOf("[queues.batch]\nmemory = \"lots\"\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:10: queues.batch.memory must be a string like \"512M\"", 0),
            0u)
      << error;
}

TEST(Config, SyntaxErrorNamesFileLineAndColumn) {
  EXPECT_EQ(errorOf("[daemon]\nsocket = \"unterminated\n").rfind("taskctld.toml:2:", 0), 0u)
      << errorOf("[daemon]\nsocket = \"unterminated\n");
}

TEST(Config, BadValueNamesItsPosition) {
  auto error = errorOf("[queues.default]\nconcurrency = 0\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:15: ", 0), 0u) << error;
  EXPECT_NE(error.find("concurrency must be an integer from 1"), std::string::npos) << error;
}

TEST(Config, UnknownKeyIsAnError) {
  auto error = errorOf("[daemon]\nstate_dri = \"/x\"\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:", 0), 0u) << error;
  EXPECT_NE(error.find("unknown key \"state_dri\" in [daemon]"), std::string::npos) << error;
}

TEST(Config, InvalidRunnerAndQueueNamesAreRejected) {
  EXPECT_NE(errorOf("[daemon]\nrunner = \"fast\"\n").find("runner must be"), std::string::npos);
  EXPECT_NE(errorOf("[queues.\"Bad Name\"]\n").find("invalid queue name"), std::string::npos);
}

TEST(Config, UnknownGroupIsAnError) {
  auto error = errorOf("[access]\nadmin_group = \"no-such-group-here\"\n");
  EXPECT_NE(error.find("no such group \"no-such-group-here\""), std::string::npos) << error;
}

TEST(Config, MissingDefaultFileGivesDefaultsButAMissingGivenFileIsAnError) {
  EXPECT_EQ(loadConfig("/nonexistent/taskctld.toml", false).queues.size(), 1u);
  EXPECT_ANY_THROW(loadConfig("/nonexistent/taskctld.toml", true));
}

}  // namespace
}  // namespace taskctl
