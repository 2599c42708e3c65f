#include "config/config.h"

#include <gtest/gtest.h>
#include <kj/debug.h>

namespace taskctl {
namespace {

// The message a person would see for `text`, or "" if it parsed.
std::string errorOf(kj::StringPtr text) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { parseConfig(text, "taskctld.toml"); })) {
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

TEST(Config, LogsKeepAReserveOfFreeSpace) {
  EXPECT_EQ(parseConfig("", "x.toml").logMinFreeBytes, 64ull << 20);
  EXPECT_EQ(parseConfig("[logs]\nmin_free_bytes = 1048576\n", "x.toml").logMinFreeBytes, 1048576u);
  EXPECT_EQ(parseConfig("[logs]\nmin_free_bytes = 0\n", "x.toml").logMinFreeBytes, 0u);
  EXPECT_ANY_THROW(parseConfig("[logs]\nmin_free_bytes = -1\n", "x.toml"));
}

TEST(Config, SharedServerLimitsAreNoneByDefault) {
  auto config = parseConfig("", "x.toml");
  EXPECT_EQ(config.limits.maxActiveTasksPerUser, 0u);
  EXPECT_EQ(config.limits.maxSchedulesPerUser, 0u);
  EXPECT_EQ(config.limits.scheduleChangesPerMinute, 0u);
  EXPECT_EQ(config.retention.logBytesPerUser, 0u);
  EXPECT_TRUE(config.queues[0].fairShare);
  EXPECT_EQ(config.queues[0].maxActiveTasksPerUser, 0u);
  EXPECT_EQ(config.queues[0].maxUserPriority, 0);
}

TEST(Config, ReadsSharedServerLimits) {
  auto config = parseConfig(
      "[limits]\nmax_active_tasks_per_user = 10000\nmax_schedules_per_user = 20\n"
      "schedule_changes_per_minute = 30\n[logs]\nmax_bytes_per_user = 1073741824\n"
      "[queues.batch]\nfair_share = false\nmax_active_tasks_per_user = 5\n"
      "max_user_priority = 10\n",
      "x.toml");
  EXPECT_EQ(config.limits.maxActiveTasksPerUser, 10000u);
  EXPECT_EQ(config.limits.maxSchedulesPerUser, 20u);
  EXPECT_EQ(config.limits.scheduleChangesPerMinute, 30u);
  EXPECT_EQ(config.retention.logBytesPerUser, 1073741824u);
  auto& q = KJ_ASSERT_NONNULL(config.findQueue("batch"));
  EXPECT_FALSE(q.fairShare);
  EXPECT_EQ(q.maxActiveTasksPerUser, 5u);
  EXPECT_EQ(q.maxUserPriority, 10);
  auto maxima = parseConfig(
      "[queues.batch]\nmax_timeout = \"6h\"\nmax_memory = \"8G\"\nmax_cpu = \"400%\"\n", "x.toml");
  auto& m = KJ_ASSERT_NONNULL(maxima.findQueue("batch"));
  EXPECT_EQ(m.maxTimeoutUsec, 6 * 3600000000ull);
  EXPECT_EQ(m.maxMemoryBytes, 8ull << 30);
  EXPECT_EQ(m.maxCpuQuotaPerSecUsec, 4000000u);
  EXPECT_EQ(errorOf("[queues.batch]\nmax_user_priority = 101\n"),
            "taskctld.toml:2:21: queues.batch.max_user_priority must be an integer from -100 "
            "to 100");
  EXPECT_EQ(errorOf("[queues.batch]\ntimeout = \"2h\"\nmax_timeout = \"1h\"\n"),
            "taskctld.toml:2:11: queues.batch.timeout (2h) is above queues.batch.max_timeout (1h)");
  EXPECT_EQ(errorOf("[queues.batch]\nmax_cpu = \"x\"\n"),
            "taskctld.toml:2:11: queues.batch.max_cpu must be a string like \"400%\"");
  EXPECT_EQ(errorOf("[limits]\nmax_tasks = 1\n"),
            "taskctld.toml:2:13: unknown key \"max_tasks\" in [limits]");
  EXPECT_EQ(errorOf("[queues.batch]\nfair_share = 1\n"),
            "taskctld.toml:2:14: queues.batch.fair_share must be true or false");
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
  EXPECT_EQ(config.runner, RunnerChoice::DIRECT);
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
  EXPECT_EQ(
      error.rfind("taskctld.toml:2:10: queues.batch.memory must be a string like \"512M\"", 0), 0u)
      << error;
}

TEST(Config, QueuesDoNotPauseOnFailureUnlessAsked) {
  auto config = parseConfig(
      "[queues.default]\n[queues.deploy]\npause_on_failure = true\n"
      "[queues.batch]\npause_on_failure = false\n",
      "x.toml");
  EXPECT_FALSE(KJ_ASSERT_NONNULL(config.findQueue("default")).pauseOnFailure);
  EXPECT_TRUE(KJ_ASSERT_NONNULL(config.findQueue("deploy")).pauseOnFailure);
  EXPECT_FALSE(KJ_ASSERT_NONNULL(config.findQueue("batch")).pauseOnFailure);
  auto error = errorOf("[queues.deploy]\npause_on_failure = \"yes\"\n");
  EXPECT_EQ(
      error.rfind("taskctld.toml:2:20: queues.deploy.pause_on_failure must be true or false", 0),
      0u)
      << error;
}

TEST(Config, RetentionDefaultsToAWeekTenThousandTasksAndMonthOldTombstones) {
  auto r = parseConfig("", "x.toml").retention;
  EXPECT_EQ(r.maxAgeUsec, 7ull * 86400 * 1000000);
  EXPECT_EQ(r.maxTasks, 10000u);
  EXPECT_EQ(r.tombstoneAgeUsec, 30ull * 86400 * 1000000);
}

TEST(Config, ReadsRetention) {
  auto r =
      parseConfig("[retention]\nmax_age = \"2d12h\"\nmax_tasks = 500\ntombstone_age = \"90d\"\n",
                  "x.toml")
          .retention;
  EXPECT_EQ(r.maxAgeUsec, 60ull * 3600 * 1000000);
  EXPECT_EQ(r.maxTasks, 500u);
  EXPECT_EQ(r.tombstoneAgeUsec, 90ull * 86400 * 1000000);
  // Keys left out keep their defaults.
  EXPECT_EQ(parseConfig("[retention]\nmax_tasks = 5\n", "x.toml").retention.maxAgeUsec,
            7ull * 86400 * 1000000);
}

TEST(Config, ZeroMaxTasksMeansNoCountLimit) {
  EXPECT_EQ(parseConfig("[retention]\nmax_tasks = 0\n", "x.toml").retention.maxTasks, 0u);
}

TEST(Config, BadRetentionValuesNameTheirPosition) {
  auto error = errorOf("[retention]\nmax_age = \"a week\"\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:11: retention.max_age must be a duration like \"7d\"", 0),
            0u)
      << error;
  error = errorOf("[retention]\nmax_age = \"0s\"\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:11: retention.max_age must be a duration", 0), 0u)
      << error;
  error = errorOf("[retention]\n\ntombstone_age = 30\n");
  EXPECT_EQ(error.rfind("taskctld.toml:3:17: retention.tombstone_age must be a duration like", 0),
            0u)
      << error;
  error = errorOf("[retention]\nmax_tasks = -1\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:13: retention.max_tasks must be an integer from 0", 0), 0u)
      << error;
  error = errorOf("[retention]\nmax_tasks = \"100\"\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:13: retention.max_tasks must be an integer", 0), 0u)
      << error;
  error = errorOf("retention = 5\n");
  EXPECT_NE(error.find("retention must be a table"), std::string::npos) << error;
}

TEST(Config, UnknownRetentionKeyIsAnError) {
  auto error = errorOf("[retention]\nmax_days = 7\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:", 0), 0u) << error;
  EXPECT_NE(error.find("unknown key \"max_days\" in [retention]"), std::string::npos) << error;
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

TEST(Config, RunnerAndBusAreParsedIntoTheirChoices) {
  auto defaults = parseConfig("", "x.toml");
  EXPECT_EQ(defaults.runner, RunnerChoice::AUTO);
  EXPECT_EQ(defaults.bus, BusChoice::SYSTEM);
  auto config = parseConfig("[daemon]\nrunner = \"scope\"\nbus = \"none\"\n", "x.toml");
  EXPECT_EQ(config.runner, RunnerChoice::SCOPE);
  EXPECT_EQ(config.bus, BusChoice::NONE);
  EXPECT_EQ(parseConfig("[daemon]\nrunner = \"auto\"\nbus = \"system\"\n", "x.toml").runner,
            RunnerChoice::AUTO);
  // The words the flags take too, and nothing else (case matters).
  EXPECT_EQ(parseRunnerChoice("direct"), RunnerChoice::DIRECT);
  EXPECT_TRUE(parseRunnerChoice("Direct") == nullptr);
  EXPECT_TRUE(parseRunnerChoice("") == nullptr);
  EXPECT_EQ(parseBusChoice("none"), BusChoice::NONE);
  EXPECT_TRUE(parseBusChoice("session") == nullptr);
}

TEST(Config, BadRunnerOrBusNamesItsPosition) {
  EXPECT_EQ(errorOf("[daemon]\nrunner = \"fast\"\n"),
            "taskctld.toml:2:10: runner must be \"auto\", \"scope\" or \"direct\"");
  EXPECT_EQ(errorOf("[daemon]\nstate_dir = \"/x\"\nbus  = \"session\"\n"),
            "taskctld.toml:3:8: bus must be \"system\" or \"none\"");
  EXPECT_EQ(errorOf("[daemon]\nrunner = 1\n"), "taskctld.toml:2:10: runner must be a string");
  EXPECT_EQ(errorOf("[daemon]\nbus = false\n"), "taskctld.toml:2:7: bus must be a string");
}

TEST(Config, AConfigThatCannotBeReadNamesTheFile) {
  EXPECT_EQ(
      []() -> std::string {
        KJ_IF_MAYBE (e,
                     kj::runCatchingExceptions([]() { loadConfig("/nonexistent/t.toml", true); })) {
          return e->getDescription().cStr();
        }
        return "";
      }(),
      "/nonexistent/t.toml: cannot read the config: No such file or directory");
  // A directory opens; only its read fails. It is not an empty file: the
  // built-in defaults would silently stand in for the operator's config.
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([]() { loadConfig("/", true); })) {
    EXPECT_EQ(e->getDescription(), "/: cannot read the config: Is a directory");
  } else {
    ADD_FAILURE() << "a directory was read as a config";
  }
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([]() { loadConfig("/", false); })) {
    EXPECT_EQ(e->getDescription(), "/: cannot read the config: Is a directory");
  } else {
    ADD_FAILURE() << "a directory was read as a config";
  }
}

TEST(Config, UnknownGroupIsAnError) {
  auto error = errorOf("[access]\nadmin_group = \"no-such-group-here\"\n");
  EXPECT_NE(error.find("no such group \"no-such-group-here\""), std::string::npos) << error;
}

TEST(Config, CapsConnectionsPerUser) {
  EXPECT_EQ(defaultConfig().maxConnectionsPerUser, 64u);
  EXPECT_EQ(parseConfig("[access]\nmax_connections_per_user = 8\n", "t.toml").maxConnectionsPerUser,
            8u);
  EXPECT_EQ(parseConfig("[access]\nmax_connections_per_user = 0\n", "t.toml").maxConnectionsPerUser,
            0u);
  EXPECT_NE(errorOf("[access]\nmax_connections_per_user = -1\n")
                .find("access.max_connections_per_user must be an integer"),
            std::string::npos);
}

TEST(Config, MissingDefaultFileGivesDefaultsButAMissingGivenFileIsAnError) {
  EXPECT_EQ(loadConfig("/nonexistent/taskctld.toml", false).queues.size(), 1u);
  EXPECT_ANY_THROW(loadConfig("/nonexistent/taskctld.toml", true));
}

TEST(Config, ReadsTheEventLogLength) {
  EXPECT_EQ(defaultConfig().eventsMaxStored, 100000u);
  EXPECT_EQ(parseConfig("[events]\nmax_stored = 5000\n", "t.toml").eventsMaxStored, 5000u);
  EXPECT_ANY_THROW(parseConfig("[events]\nmax_stored = 10\n", "t.toml"));
  EXPECT_ANY_THROW(parseConfig("[events]\nmaximum = 5000\n", "t.toml"));
}

TEST(Config, ReadsTheStoreMapSizesInPeoplesUnits) {
  auto defaults = defaultConfig();
  EXPECT_EQ(defaults.storeMapBytes, 256ull << 20);
  EXPECT_EQ(defaults.storeMaxMapBytes, 1ull << 40);
  auto config = parseConfig("[store]\nmap_size = \"64MiB\"\nmax_map_size = \"2TiB\"\n", "t.toml");
  EXPECT_EQ(config.storeMapBytes, 64ull << 20);
  EXPECT_EQ(config.storeMaxMapBytes, 2ull << 40);
  config = parseConfig("[store]\nmax_map_size = \"512M\"\n", "t.toml");
  EXPECT_EQ(config.storeMapBytes, 256ull << 20);
  EXPECT_EQ(config.storeMaxMapBytes, 512ull << 20);
}

TEST(Config, BadStoreSizesNameTheirPosition) {
  auto error = errorOf("[store]\nmap_size = \"lots\"\n");
  EXPECT_EQ(error.rfind("taskctld.toml:2:12: store.map_size must be a size from 1MiB to 64TiB", 0),
            0u)
      << error;
  error = errorOf("[store]\nmap_size = 1048576\n");  // a size is text with its unit
  EXPECT_EQ(error.rfind("taskctld.toml:2:12: store.map_size must be a size", 0), 0u) << error;
  error = errorOf("[store]\n\nmax_map_size = \"512KiB\"\n");
  EXPECT_EQ(error.rfind("taskctld.toml:3:16: store.max_map_size must be a size", 0), 0u) << error;
  error = errorOf("[store]\nmap_size = \"2GiB\"\nmax_map_size = \"1GiB\"\n");
  EXPECT_EQ(error.rfind("taskctld.toml:3:16: store.map_size (2G) must not exceed "
                        "store.max_map_size (1G)",
                        0),
            0u)
      << error;
  error = errorOf("[store]\nmap_size = \"2TiB\"\n");  // above the default cap
  EXPECT_NE(error.find("taskctld.toml:2:12: store.map_size (2T) must not exceed"),
            std::string::npos)
      << error;
  error = errorOf("[store]\nmapsize = \"1GiB\"\n");
  EXPECT_NE(error.find("mapsize"), std::string::npos) << error;
}

TEST(Config, QueuesRunLocallyUnlessTheySaySlurm) {
  auto config = parseConfig("[queues.batch]\nrunner = \"local\"\n", "x.toml");
  EXPECT_EQ(KJ_ASSERT_NONNULL(config.findQueue("batch")).slurm, nullptr);
  EXPECT_EQ(KJ_ASSERT_NONNULL(config.findQueue("default")).slurm, nullptr);
}

TEST(Config, ReadsASlurmQueue) {
  auto config = parseConfig(
      "[queues.hpc]\nrunner = \"slurm\"\n[queues.hpc.slurm]\npartition = \"debug\"\n"
      "account = \"lab\"\nqos = \"high\"\nsbatch_options = [\"--exclusive\", \"--gres=gpu:1\"]\n"
      "shared_dir = \"/shared/taskctl\"\nquery_interval = \"500ms\"\nbin_dir = "
      "\"/opt/slurm/bin\"\n",
      "x.toml");
  auto& slurm = KJ_ASSERT_NONNULL(KJ_ASSERT_NONNULL(config.findQueue("hpc")).slurm);
  EXPECT_EQ(slurm.partition, "debug");
  EXPECT_EQ(slurm.account, "lab");
  EXPECT_EQ(slurm.qos, "high");
  ASSERT_EQ(slurm.sbatchOptions.size(), 2u);
  EXPECT_EQ(slurm.sbatchOptions[0], "--exclusive");
  EXPECT_EQ(slurm.sbatchOptions[1], "--gres=gpu:1");
  EXPECT_EQ(slurm.sharedDir, "/shared/taskctl");
  EXPECT_EQ(slurm.queryIntervalUsec, 500000u);
  EXPECT_EQ(slurm.binDir, "/opt/slurm/bin");
  auto copy = cloneSlurmQueueConfig(slurm);
  EXPECT_EQ(copy.sbatchOptions[1], "--gres=gpu:1");
  EXPECT_EQ(copy.binDir, "/opt/slurm/bin");
  EXPECT_NE(copy.binDir.begin(), slurm.binDir.begin());
}

TEST(Config, ASlurmQueueDefaultsToSlurmsOwnChoicesAndTwoSeconds) {
  // The default queue may run on Slurm too: it is a queue like the others.
  auto config = parseConfig(
      "[queues.default]\nrunner = \"slurm\"\n[queues.default.slurm]\nshared_dir = \"/s\"\n",
      "x.toml");
  auto& slurm = KJ_ASSERT_NONNULL(KJ_ASSERT_NONNULL(config.findQueue("default")).slurm);
  EXPECT_EQ(slurm.partition, "");
  EXPECT_EQ(slurm.account, "");
  EXPECT_EQ(slurm.qos, "");
  EXPECT_EQ(slurm.sbatchOptions.size(), 0u);
  EXPECT_EQ(slurm.queryIntervalUsec, 2000000u);
  EXPECT_EQ(slurm.binDir, "/usr/bin");
}

TEST(Config, BadSlurmQueuesNameTheirPosition) {
  EXPECT_EQ(errorOf("[queues.hpc]\nrunner = \"pbs\"\n"),
            "taskctld.toml:2:10: queues.hpc.runner must be \"local\" or \"slurm\"");
  EXPECT_EQ(errorOf("[queues.hpc]\nrunner = \"slurm\"\n"),
            "taskctld.toml:2:10: queues.hpc.runner = \"slurm\" needs a [queues.hpc.slurm] table "
            "with shared_dir");
  EXPECT_EQ(errorOf("[queues.hpc.slurm]\nshared_dir = \"/s\"\n"),
            "taskctld.toml:1:1: [queues.hpc.slurm] needs runner = \"slurm\" in [queues.hpc]");
  EXPECT_EQ(errorOf("[queues.hpc]\nrunner = \"local\"\n[queues.hpc.slurm]\nshared_dir = \"/s\"\n"),
            "taskctld.toml:3:1: [queues.hpc.slurm] needs runner = \"slurm\" in [queues.hpc]");
  auto slurm = [](kj::StringPtr body) {
    return errorOf(kj::str("[queues.hpc]\nrunner = \"slurm\"\n[queues.hpc.slurm]\n", body));
  };
  EXPECT_EQ(slurm("partition = \"debug\"\n"),
            "taskctld.toml:3:1: queues.hpc.slurm.shared_dir is required: an absolute path "
            "mounted on every node");
  EXPECT_EQ(slurm("shared_dir = \"shared\"\n"),
            "taskctld.toml:4:14: queues.hpc.slurm.shared_dir must be an absolute path");
  EXPECT_EQ(slurm("shared_dir = \"/s\"\nbin_dir = \"bin\"\n"),
            "taskctld.toml:5:11: queues.hpc.slurm.bin_dir must be an absolute path");
  EXPECT_EQ(slurm("shared_dir = \"/s\"\nquery_interval = \"50ms\"\n"),
            "taskctld.toml:5:18: queues.hpc.slurm.query_interval must be from 100ms to 1h");
  EXPECT_EQ(slurm("shared_dir = \"/s\"\nquery_interval = \"2h\"\n"),
            "taskctld.toml:5:18: queues.hpc.slurm.query_interval must be from 100ms to 1h");
  EXPECT_EQ(slurm("shared_dir = \"/s\"\nquery_interval = 2\n"),
            "taskctld.toml:5:18: queues.hpc.slurm.query_interval must be a duration like \"2s\"");
  EXPECT_EQ(slurm("shared_dir = \"/s\"\nsbatch_options = \"--exclusive\"\n"),
            "taskctld.toml:5:18: queues.hpc.slurm.sbatch_options must be an array of strings");
  EXPECT_EQ(slurm("shared_dir = \"/s\"\nsbatch_options = [\"-N1\", 2]\n"),
            "taskctld.toml:5:26: queues.hpc.slurm.sbatch_options must be an array of strings");
  EXPECT_EQ(slurm("shared_dir = \"/s\"\npartitions = \"debug\"\n"),
            "taskctld.toml:5:14: unknown key \"partitions\" in [queues.hpc.slurm]");
  EXPECT_EQ(slurm("shared_dir = \"/s\"\npartition = 1\n"),
            "taskctld.toml:5:13: partition must be a string");
  EXPECT_EQ(errorOf("[queues.hpc]\nrunner = \"slurm\"\nslurm = 1\n"),
            "taskctld.toml:3:9: queues.hpc.slurm must be a table");
}

}  // namespace
}  // namespace taskctl

namespace taskctl {
namespace {

TEST(Config, ThePackagedFileSetsTheLimitsOfASharedServer) {
  auto config = loadConfig(TASKCTL_PACKAGED_CONFIG, true);
  EXPECT_EQ(config.limits.maxActiveTasksPerUser, 10000u);
  EXPECT_EQ(config.limits.maxSchedulesPerUser, 100u);
  EXPECT_EQ(config.limits.scheduleChangesPerMinute, 10u);
  EXPECT_EQ(config.retention.logBytesPerUser, 1ull << 30);
  // The rest as built in.
  auto defaults = defaultConfig();
  EXPECT_EQ(config.logMaxBytes, defaults.logMaxBytes);
  EXPECT_EQ(config.queues.size(), 1u);
}

}  // namespace
}  // namespace taskctl
