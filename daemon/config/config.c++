#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <kj/vector.h>
#include <string.h>
#include <toml++/toml.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/units.h"

namespace taskctl {
namespace {

// Every error in the file names its place: "source:line:column: what".
[[noreturn]] void fail(kj::StringPtr source, const toml::source_region& where, kj::StringPtr what) {
  refuse(kj::str(source, ":", where.begin.line, ":", where.begin.column, ": ", what));
}

uint32_t cpuCount() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<uint32_t>(n) : 1;
}

// Only these keys exist; a typo must be an error, not a silently ignored line.
void checkKeys(kj::StringPtr source, const toml::table& table,
               std::initializer_list<std::string_view> known, kj::StringPtr section) {
  for (auto& [key, node] : table) {
    bool ok = false;
    for (auto k : known) ok = ok || key.str() == k;
    if (!ok) {
      fail(source, node.source(),
           kj::str("unknown key \"", key.str().data(), "\"",
                   section.size() ? kj::str(" in [", section, "]") : kj::str()));
    }
  }
}

kj::String getString(kj::StringPtr source, const toml::table& table, std::string_view key,
                     kj::StringPtr fallback) {
  auto node = table.get(key);
  if (node == nullptr) return kj::str(fallback);
  auto s = node->as_string();
  if (s == nullptr) fail(source, node->source(), kj::str(key.data(), " must be a string"));
  return kj::str(s->get().c_str());
}

kj::Maybe<gid_t> getGroup(kj::StringPtr source, const toml::table& table, std::string_view key) {
  auto node = table.get(key);
  if (node == nullptr) return nullptr;
  auto s = node->as_string();
  if (s == nullptr) fail(source, node->source(), kj::str(key.data(), " must be a group name"));
  if (s->get().empty()) return nullptr;
  struct group* g = getgrnam(s->get().c_str());
  if (g == nullptr) {
    fail(source, node->source(), kj::str("no such group \"", s->get().c_str(), "\""));
  }
  return g->gr_gid;
}

int64_t getInteger(kj::StringPtr source, const toml::node& node, kj::StringPtr what, int64_t min,
                   int64_t max) {
  auto i = node.as_integer();
  if (i == nullptr || i->get() < min || i->get() > max) {
    fail(source, node.source(), kj::str(what, " must be an integer from ", min, " to ", max));
  }
  return i->get();
}

// A duration in the units people write ("7d", "12h"): more than zero.
uint64_t getDuration(kj::StringPtr source, const toml::node& node, kj::StringPtr what,
                     kj::StringPtr example) {
  auto text = node.as_string();
  if (text != nullptr) {
    KJ_IF_MAYBE (usec, parseDurationUsec(text->get().c_str())) {
      if (*usec > 0) return *usec;
    }
  }
  fail(source, node.source(), kj::str(what, " must be a duration like \"", example, "\""));
}

// The message names the file as the parse errors do.
[[noreturn]] void cannotRead(kj::StringPtr path, int error) {
  refuse(kj::str(path, ": cannot read the config: ", strerror(error)));
}

// A string that must be one of a few words, as the enum it names.
template <typename T>
T getChoice(kj::StringPtr source, const toml::table& table, std::string_view key, T fallback,
            kj::Maybe<T> (*parse)(kj::StringPtr), kj::StringPtr error) {
  auto node = table.get(key);
  if (node == nullptr) return fallback;
  auto s = node->as_string();
  if (s == nullptr) fail(source, node->source(), kj::str(key.data(), " must be a string"));
  KJ_IF_MAYBE (choice, parse(s->get().c_str())) return *choice;
  fail(source, node->source(), error);
}

bool getBool(kj::StringPtr source, const toml::node& node, kj::StringPtr what) {
  auto b = node.as_boolean();
  if (b == nullptr) fail(source, node.source(), kj::str(what, " must be true or false"));
  return b->get();
}

// [queues.NAME.slurm], read once the queue says runner = "slurm".
SlurmQueueConfig getSlurm(kj::StringPtr source, kj::StringPtr queue, const toml::node& node) {
  auto where = kj::str("queues.", queue, ".slurm");
  auto table = node.as_table();
  if (table == nullptr) fail(source, node.source(), kj::str(where, " must be a table"));
  checkKeys(
      source, *table,
      {"partition", "account", "qos", "sbatch_options", "shared_dir", "query_interval", "bin_dir"},
      where);
  SlurmQueueConfig slurm;
  slurm.partition = getString(source, *table, "partition", "");
  slurm.account = getString(source, *table, "account", "");
  slurm.qos = getString(source, *table, "qos", "");
  if (auto options = table->get("sbatch_options")) {
    auto array = options->as_array();
    if (array == nullptr) {
      fail(source, options->source(),
           kj::str(where, ".sbatch_options must be an array of strings"));
    }
    for (auto& option : *array) {
      auto text = option.as_string();
      if (text == nullptr) {
        fail(source, option.source(),
             kj::str(where, ".sbatch_options must be an array of strings"));
      }
      slurm.sbatchOptions.add(kj::str(text->get().c_str()));
    }
  }
  // Paths the daemon hands to sbatch and execs: relative ones would depend
  // on the daemon's cwd here and on the job's on the node.
  auto absolute = [&](std::string_view key, kj::StringPtr fallback, kj::StringPtr what) {
    auto value = getString(source, *table, key, fallback);
    if (!value.startsWith("/")) {
      auto node = table->get(key);
      fail(source, node != nullptr ? node->source() : table->source(),
           kj::str(where, ".", key.data(), " ", what));
    }
    return value;
  };
  slurm.sharedDir = absolute("shared_dir", "",
                             table->get("shared_dir") == nullptr
                                 ? "is required: an absolute path mounted on every node"
                                 : "must be an absolute path");
  slurm.binDir = absolute("bin_dir", slurm.binDir, "must be an absolute path");
  if (auto interval = table->get("query_interval")) {
    // Below 100ms squeue calls would load slurmctld for nothing; above an
    // hour an ended job would look live for too long.
    uint64_t usec = getDuration(source, *interval, kj::str(where, ".query_interval"), "2s");
    if (usec < 100000 || usec > 3600000000ull) {
      fail(source, interval->source(), kj::str(where, ".query_interval must be from 100ms to 1h"));
    }
    slurm.queryIntervalUsec = usec;
  }
  return slurm;
}

}  // namespace

SlurmQueueConfig cloneSlurmQueueConfig(const SlurmQueueConfig& from) {
  SlurmQueueConfig to;
  to.partition = kj::str(from.partition);
  to.account = kj::str(from.account);
  to.qos = kj::str(from.qos);
  for (auto& option : from.sbatchOptions) to.sbatchOptions.add(kj::str(option));
  to.sharedDir = kj::str(from.sharedDir);
  to.queryIntervalUsec = from.queryIntervalUsec;
  to.binDir = kj::str(from.binDir);
  return to;
}

bool sameSlurmQueueConfig(const SlurmQueueConfig& a, const SlurmQueueConfig& b) {
  if (a.sbatchOptions.size() != b.sbatchOptions.size()) return false;
  for (auto i : kj::indices(a.sbatchOptions)) {
    if (a.sbatchOptions[i] != b.sbatchOptions[i]) return false;
  }
  return a.partition == b.partition && a.account == b.account && a.qos == b.qos &&
         a.sharedDir == b.sharedDir && a.queryIntervalUsec == b.queryIntervalUsec &&
         a.binDir == b.binDir;
}

kj::Maybe<RunnerChoice> parseRunnerChoice(kj::StringPtr text) {
  if (text == "auto") return RunnerChoice::AUTO;
  if (text == "scope") return RunnerChoice::SCOPE;
  if (text == "direct") return RunnerChoice::DIRECT;
  return nullptr;
}

kj::Maybe<BusChoice> parseBusChoice(kj::StringPtr text) {
  if (text == "system") return BusChoice::SYSTEM;
  if (text == "none") return BusChoice::NONE;
  return nullptr;
}

bool isValidQueueName(kj::StringPtr name) {
  if (name.size() == 0 || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return name[0] != '-' && name[0] != '_';
}

kj::Maybe<const QueueConfig&> Config::findQueue(kj::StringPtr name) const {
  for (auto& q : queues) {
    if (q.name == name) return q;
  }
  return nullptr;
}

Config defaultConfig() {
  Config config;
  config.queues.add(QueueConfig{kj::str("default"), cpuCount()});
  return config;
}

Config parseConfig(kj::StringPtr text, kj::StringPtr source) {
  toml::table root;
  try {
    root = toml::parse(std::string_view(text.begin(), text.size()),
                       std::string_view(source.begin(), source.size()));
  } catch (const toml::parse_error& e) {
    fail(source, e.source(), kj::str(e.description().data()));
  }

  Config config = defaultConfig();
  checkKeys(source, root,
            {"daemon", "access", "queues", "logs", "retention", "events", "store", "limits"}, "");
  auto section = [&](std::string_view name) -> const toml::table* {
    auto node = root.get(name);
    if (node == nullptr) return nullptr;
    auto t = node->as_table();
    if (t == nullptr) fail(source, node->source(), kj::str(name.data(), " must be a table"));
    return t;
  };

  if (auto daemon = section("daemon")) {
    checkKeys(source, *daemon, {"state_dir", "socket", "runner", "bus"}, "daemon");
    config.stateDir = getString(source, *daemon, "state_dir", config.stateDir);
    config.socketPath = getString(source, *daemon, "socket", config.socketPath);
    config.runner = getChoice(source, *daemon, "runner", config.runner, parseRunnerChoice,
                              "runner must be \"auto\", \"scope\" or \"direct\"");
    config.bus = getChoice(source, *daemon, "bus", config.bus, parseBusChoice,
                           "bus must be \"system\" or \"none\"");
  }
  if (auto access = section("access")) {
    checkKeys(source, *access, {"admin_group", "submit_group", "max_connections_per_user"},
              "access");
    config.adminGroup = getGroup(source, *access, "admin_group");
    config.submitGroup = getGroup(source, *access, "submit_group");
    if (auto node = access->get("max_connections_per_user")) {
      config.maxConnectionsPerUser =
          getInteger(source, *node, "access.max_connections_per_user", 0, 1000000);
    }
  }
  if (auto logs = section("logs")) {
    checkKeys(source, *logs, {"max_bytes", "min_free_bytes", "max_bytes_per_user"}, "logs");
    if (auto node = logs->get("max_bytes")) {
      config.logMaxBytes = getInteger(source, *node, "logs.max_bytes", 4096, int64_t(1) << 50);
    }
    if (auto node = logs->get("min_free_bytes")) {
      config.logMinFreeBytes =
          getInteger(source, *node, "logs.min_free_bytes", 0, int64_t(1) << 50);
    }
    if (auto node = logs->get("max_bytes_per_user")) {
      // 0: no bound beyond each attempt's own.
      config.retention.logBytesPerUser =
          getInteger(source, *node, "logs.max_bytes_per_user", 0, int64_t(1) << 50);
    }
  }
  if (auto limits = section("limits")) {
    checkKeys(
        source, *limits,
        {"max_active_tasks_per_user", "max_schedules_per_user", "schedule_changes_per_minute"},
        "limits");
    auto& l = config.limits;
    if (auto node = limits->get("max_active_tasks_per_user")) {
      l.maxActiveTasksPerUser =
          getInteger(source, *node, "limits.max_active_tasks_per_user", 0, 1000000000);
    }
    if (auto node = limits->get("max_schedules_per_user")) {
      l.maxSchedulesPerUser =
          getInteger(source, *node, "limits.max_schedules_per_user", 0, 1000000);
    }
    if (auto node = limits->get("schedule_changes_per_minute")) {
      l.scheduleChangesPerMinute =
          getInteger(source, *node, "limits.schedule_changes_per_minute", 0, 1000000);
    }
  }
  if (auto retention = section("retention")) {
    checkKeys(source, *retention, {"max_age", "max_tasks", "tombstone_age"}, "retention");
    auto& r = config.retention;
    if (auto node = retention->get("max_age")) {
      r.maxAgeUsec = getDuration(source, *node, "retention.max_age", "7d");
    }
    if (auto node = retention->get("max_tasks")) {
      // 0: no count limit, only max_age prunes.
      r.maxTasks = getInteger(source, *node, "retention.max_tasks", 0, 1000000000);
    }
    if (auto node = retention->get("tombstone_age")) {
      r.tombstoneAgeUsec = getDuration(source, *node, "retention.tombstone_age", "30d");
    }
  }
  if (auto events = section("events")) {
    checkKeys(source, *events, {"max_stored"}, "events");
    if (auto node = events->get("max_stored")) {
      // What a watcher can resume from after a disconnect (`watch --from`).
      config.eventsMaxStored = getInteger(source, *node, "events.max_stored", 1000, 1000000000);
    }
  }
  if (auto store = section("store")) {
    checkKeys(source, *store, {"map_size", "max_map_size"}, "store");
    // Sizes in the units people write ("256MiB", "1TiB"). The map is address
    // space, not memory: the cap is what bounds the store on disk.
    auto size = [&](const char* key, uint64_t fallback) -> uint64_t {
      auto node = store->get(key);
      if (node == nullptr) return fallback;
      auto text = node->as_string();
      if (text != nullptr) {
        KJ_IF_MAYBE (v, parseBytes(text->get().c_str())) {
          if (*v >= (1ull << 20) && *v <= (64ull << 40)) return *v;
        }
      }
      fail(source, node->source(),
           kj::str("store.", key, " must be a size from 1MiB to 64TiB like \"256MiB\""));
    };
    config.storeMapBytes = size("map_size", config.storeMapBytes);
    config.storeMaxMapBytes = size("max_map_size", config.storeMaxMapBytes);
    if (config.storeMapBytes > config.storeMaxMapBytes) {
      auto node = store->get("max_map_size");
      if (node == nullptr) node = store->get("map_size");
      fail(source, node->source(),
           kj::str("store.map_size (", formatBytes(config.storeMapBytes),
                   ") must not exceed store.max_map_size (", formatBytes(config.storeMaxMapBytes),
                   ")"));
    }
  }
  if (auto queues = section("queues")) {
    for (auto& [key, node] : *queues) {
      auto name = kj::str(key.str().data());
      if (!isValidQueueName(name)) {
        fail(source, node.source(),
             kj::str("invalid queue name \"", name, "\": use 1-64 of a-z 0-9 _ -"));
      }
      auto table = node.as_table();
      if (table == nullptr)
        fail(source, node.source(), kj::str("queues.", name, " must be a table"));
      checkKeys(source, *table,
                {"concurrency", "timeout", "kill_grace", "heartbeat", "cpu", "memory", "tasks_max",
                 "pause_on_failure", "fair_share", "max_active_tasks_per_user", "max_user_priority",
                 "max_timeout", "max_memory", "max_cpu", "runner", "slurm"},
                kj::str("queues.", name));
      QueueConfig queue{kj::str(name), cpuCount()};
      if (auto c = table->get("concurrency")) {
        queue.concurrency =
            getInteger(source, *c, kj::str("queues.", name, ".concurrency"), 1, 100000);
      }
      // A limit given as text in the units people write ("1h", "512M", "50%").
      auto unit = [&](const char* key, auto parse, const char* example) -> uint64_t {
        auto node = table->get(key);
        if (node == nullptr) return 0;
        auto text = node->as_string();
        kj::Maybe<uint64_t> value;
        if (text != nullptr) value = parse(text->get().c_str());
        KJ_IF_MAYBE (v, value) {
          if (*v > 0) return *v;
        }
        fail(source, node->source(),
             kj::str("queues.", name, ".", key, " must be a string like \"", example, "\""));
      };
      queue.timeoutUsec = unit("timeout", parseDurationUsec, "1h");
      queue.killGraceUsec = unit("kill_grace", parseDurationUsec, "10s");
      queue.heartbeatUsec = unit("heartbeat", parseDurationUsec, "30s");
      queue.cpuQuotaPerSecUsec = unit("cpu", parseCpuQuotaPerSecUsec, "50%");
      queue.memoryMaxBytes = unit("memory", parseBytes, "512M");
      queue.maxTimeoutUsec = unit("max_timeout", parseDurationUsec, "6h");
      queue.maxMemoryBytes = unit("max_memory", parseBytes, "8G");
      queue.maxCpuQuotaPerSecUsec = unit("max_cpu", parseCpuQuotaPerSecUsec, "400%");
      // A default above its maximum would make every plain submit refused.
      auto noDefaultAbove = [&](const char* key, uint64_t value, const char* maxKey, uint64_t max,
                                auto format) {
        if (max != 0 && value > max) {
          fail(source, table->get(key)->source(),
               kj::str("queues.", name, ".", key, " (", format(value), ") is above queues.", name,
                       ".", maxKey, " (", format(max), ")"));
        }
      };
      noDefaultAbove("timeout", queue.timeoutUsec, "max_timeout", queue.maxTimeoutUsec,
                     [](uint64_t v) { return formatDurationUsec(v); });
      noDefaultAbove("memory", queue.memoryMaxBytes, "max_memory", queue.maxMemoryBytes,
                     [](uint64_t v) { return formatBytes(v); });
      noDefaultAbove("cpu", queue.cpuQuotaPerSecUsec, "max_cpu", queue.maxCpuQuotaPerSecUsec,
                     [](uint64_t v) { return formatCpuQuota(v); });
      if (auto t = table->get("tasks_max")) {
        queue.tasksMax = getInteger(source, *t, kj::str("queues.", name, ".tasks_max"), 1, 1 << 30);
      }
      if (auto p = table->get("pause_on_failure")) {
        queue.pauseOnFailure = getBool(source, *p, kj::str("queues.", name, ".pause_on_failure"));
      }
      if (auto f = table->get("fair_share")) {
        queue.fairShare = getBool(source, *f, kj::str("queues.", name, ".fair_share"));
      }
      if (auto m = table->get("max_active_tasks_per_user")) {
        queue.maxActiveTasksPerUser = getInteger(
            source, *m, kj::str("queues.", name, ".max_active_tasks_per_user"), 0, 1000000000);
      }
      if (auto m = table->get("max_user_priority")) {
        queue.maxUserPriority =
            getInteger(source, *m, kj::str("queues.", name, ".max_user_priority"), -100, 100);
      }
      // runner and its table come together: a table alone, or the word
      // alone, is a half-made edit that must not silently run locally.
      auto runner = table->get("runner");
      auto slurm = table->get("slurm");
      bool isSlurm = false;
      if (runner != nullptr) {
        auto word = runner->as_string();
        if (word == nullptr || (word->get() != "local" && word->get() != "slurm")) {
          fail(source, runner->source(),
               kj::str("queues.", name, ".runner must be \"local\" or \"slurm\""));
        }
        isSlurm = word->get() == "slurm";
      }
      if (isSlurm && slurm == nullptr) {
        fail(source, runner->source(),
             kj::str("queues.", name, ".runner = \"slurm\" needs a [queues.", name,
                     ".slurm] table with shared_dir"));
      }
      if (!isSlurm && slurm != nullptr) {
        fail(source, slurm->source(),
             kj::str("[queues.", name, ".slurm] needs runner = \"slurm\" in [queues.", name, "]"));
      }
      if (isSlurm) queue.slurm = getSlurm(source, name, *slurm);
      bool found = false;
      for (auto& q : config.queues) {
        if (q.name == name) {
          q = kj::mv(queue);
          found = true;
          break;
        }
      }
      if (!found) config.queues.add(kj::mv(queue));
    }
  }
  return config;
}

Config loadConfig(kj::StringPtr path, bool mustExist) {
  int fd = -1;
  KJ_SYSCALL_HANDLE_ERRORS(fd = open(path.cStr(), O_RDONLY | O_CLOEXEC)) {
    case ENOENT:
      if (!mustExist) return defaultConfig();
      KJ_FALLTHROUGH;
    default:
      cannotRead(path, error);
  }
  kj::AutoCloseFd file(fd);
  // Read to the end ourselves: a directory opens, and only its read fails
  // (EISDIR), which must be an error, not an empty file's defaults.
  kj::Vector<char> text;
  char chunk[8192];
  for (;;) {
    ssize_t n = 0;
    KJ_SYSCALL_HANDLE_ERRORS(n = read(file, chunk, sizeof(chunk))) {
      default:
        cannotRead(path, error);
    }
    if (n == 0) break;
    text.addAll(chunk, chunk + n);
  }
  text.add('\0');
  return parseConfig(kj::StringPtr(text.begin(), text.size() - 1), path);
}

}  // namespace taskctl
