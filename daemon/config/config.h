// taskctld's settings: built-in defaults, then the TOML file, then flags.
// The only module that includes toml++; errors name file:line:column.
#pragma once

#include <kj/array.h>
#include <kj/common.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>
#include <sys/types.h>

namespace taskctl {

// daemon.runner, --runner (DESIGN 8): `auto` is `scope` when systemd is PID 1
// and the system bus answers, else `direct`.
enum class RunnerChoice { AUTO, SCOPE, DIRECT };
// daemon.bus, --bus: `none` leaves the daemon off D-Bus entirely.
enum class BusChoice { SYSTEM, NONE };

kj::Maybe<RunnerChoice> parseRunnerChoice(kj::StringPtr text);  // "auto", "scope", "direct"
kj::Maybe<BusChoice> parseBusChoice(kj::StringPtr text);        // "system", "none"

// [queues.NAME.slurm]: a queue whose `runner = "slurm"` hands each attempt
// to a Slurm cluster as a batch job (DESIGN 12, docs/slurm.md).
struct SlurmQueueConfig {
  kj::String partition, account, qos;       // "": Slurm's default
  kj::Vector<kj::String> sbatchOptions;     // sbatch_options: appended verbatim to sbatch's argv
  kj::String sharedDir;                     // shared_dir: absolute, the same path on every node
  uint64_t queryIntervalUsec = 2000000;     // query_interval: one squeue per interval while live
  kj::String binDir = kj::str("/usr/bin");  // bin_dir: where sbatch, squeue, ... are
};

SlurmQueueConfig cloneSlurmQueueConfig(const SlurmQueueConfig& from);
bool sameSlurmQueueConfig(const SlurmQueueConfig& a, const SlurmQueueConfig& b);
// Every setting equal: a reload that keeps them keeps the queue's runner.
// A deep copy (kj::String does not copy itself), for a queue table that
// keeps its own copy of the config across reloads.

struct QueueConfig {
  kj::String name;
  uint32_t concurrency;  // executions at once; default: the number of CPUs
  // Defaults for this queue's tasks (0: none); a submit option wins.
  uint64_t timeoutUsec = 0;
  uint64_t killGraceUsec = 0;  // 0: spec::DEFAULT_KILL_GRACE_USEC (10 s)
  uint64_t heartbeatUsec = 0;
  uint64_t cpuQuotaPerSecUsec = 0;
  uint64_t memoryMaxBytes = 0;
  uint64_t tasksMax = 0;
  // Maximums (max_timeout, max_memory, max_cpu; 0: none): what an ordinary
  // user may ask for at submit or raise to with `update` (root and the admin
  // group may go past them), what retry growth and EXTEND_TIMEOUT_USEC= stop
  // at, and the limit in force for a task that gives none where the queue
  // has no default.
  uint64_t maxTimeoutUsec = 0;
  uint64_t maxMemoryBytes = 0;
  uint64_t maxCpuQuotaPerSecUsec = 0;
  bool pauseOnFailure = false;  // a task that ends `failed` pauses the queue
  // A shared server (DESIGN 6). Root and the admin group are exempt from both limits.
  bool fairShare = true;               // fair_share: a free slot goes to the user running fewest
  uint64_t maxActiveTasksPerUser = 0;  // max_active_tasks_per_user here; 0: none
  int32_t maxUserPriority = 0;         // max_user_priority: the highest an ordinary user may set
  // runner = "slurm": set, the queue's attempts run as Slurm jobs; null
  // (runner = "local", the default): the daemon's own runner (daemon.runner).
  kj::Maybe<SlurmQueueConfig> slurm = nullptr;
};

// limits.*: what one user may hold (DESIGN 6, "A shared server"). 0: no limit.
// Root and the admin group are exempt.
struct LimitsConfig {
  uint64_t maxActiveTasksPerUser = 0;     // max_active_tasks_per_user: in all queues together
  uint64_t maxSchedulesPerUser = 0;       // max_schedules_per_user
  uint64_t scheduleChangesPerMinute = 0;  // schedule_changes_per_minute: add + remove, per user
};

// retention.*: when terminal tasks are pruned (DESIGN 6).
struct RetentionConfig {
  uint64_t maxAgeUsec = 7ull * 86400 * 1000000;         // max_age: after its end
  uint64_t maxTasks = 10000;                            // max_tasks: terminal tasks kept
  uint64_t tombstoneAgeUsec = 30ull * 86400 * 1000000;  // tombstone_age
  // logs.max_bytes_per_user: the logs of one user's finished tasks together;
  // past it the oldest go first. 0: no bound beyond each attempt's own.
  uint64_t logBytesPerUser = 0;
};

struct Config {
  kj::String stateDir = kj::str("/var/lib/taskctl");
  kj::String socketPath = kj::str("/run/taskctl/taskctl.sock");
  RunnerChoice runner = RunnerChoice::AUTO;
  BusChoice bus = BusChoice::SYSTEM;
  kj::Maybe<gid_t> adminGroup;   // access.admin_group, resolved
  kj::Maybe<gid_t> submitGroup;  // access.submit_group, resolved
  // access.max_connections_per_user: open connections one uid may hold (root
  // exempt; 0: no limit). A user's own taskctl runs need a few; a flood of
  // them must not take the daemon's fds from everyone else.
  uint32_t maxConnectionsPerUser = 64;
  uint64_t logMaxBytes = 64ull << 20;      // logs.max_bytes
  uint64_t logMinFreeBytes = 64ull << 20;  // logs.min_free_bytes
  LimitsConfig limits;
  kj::Vector<QueueConfig> queues;  // always holds "default"
  RetentionConfig retention;
  uint64_t eventsMaxStored = 100000;       // events.max_stored: the event log's length
  uint64_t storeMapBytes = 256ull << 20;   // store.map_size: the map LMDB starts with
  uint64_t storeMaxMapBytes = 1ull << 40;  // store.max_map_size: it doubles up to this

  kj::Maybe<const QueueConfig&> findQueue(kj::StringPtr name) const;
};

Config defaultConfig();
// Built-in defaults: one queue, "default", with one slot per CPU.

Config loadConfig(kj::StringPtr path, bool mustExist);
// Reads the TOML at `path` over the defaults. A missing file gives the
// defaults unless `mustExist`. Throws FAILED with "path:line:column: what is
// wrong" for a file that does not parse or holds an invalid value.

Config parseConfig(kj::StringPtr text, kj::StringPtr sourceName);
// The same, from text (for tests and SIGHUP reloads).

bool isValidQueueName(kj::StringPtr name);
// 1-64 characters of [a-z0-9_-], starting with a letter or digit.

}  // namespace taskctl
