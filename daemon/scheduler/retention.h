// Retention (DESIGN 6): prunes terminal tasks after `retention.max_age` or
// beyond `retention.max_tasks` (oldest finished first), leaving a tombstone
// that a late `wait` can still answer from; expires tombstones after
// `retention.tombstone_age` and request-id mappings 24 h after their submit,
// whatever retention does.
//
// Runs on the daemon's one loop and never stalls it: a sweep works in
// batches of at most BATCH records, each staged, then waited on
// (GroupCommit::durable()), the next one in a later turn, so dispatch and
// submits interleave with it. Nothing polls: between sweeps one timer is
// armed for the earliest deadline the store's indexes show.
//
// Logs per user (logs.max_bytes_per_user): the logs of one user's finished
// tasks are counted per user (at each end, and by the start's sweep of the
// logs directory); past the bound, that user's oldest logs are removed (by
// task id), the task records stay. A running attempt's log is bounded by
// logs.max_bytes alone until it ends.
//
// A prune removes a task's log files only once the prune is durable, so a
// crash in between leaves them behind with nothing pointing at them. Each
// start() therefore sweeps the logs directory once, in batches too, for logs
// whose task is no longer stored.
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <kj/map.h>
#include <kj/time.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include <map>
#include <utility>

#include "config/config.h"
#include "runner/runner.h"
#include "store/group-commit.h"
#include "store/store.h"

namespace taskctl {

class Retention final : private kj::TaskSet::ErrorHandler {
 public:
  static constexpr size_t BATCH = 256;
  // Records examined or written per loop turn.
  static constexpr kj::Duration REQUEST_AGE = 24 * kj::HOURS;
  // How long a request id's mapping is kept (DESIGN 6), whatever the config.

  Retention(Store& store, GroupCommit& commit, kj::Timer& timer, const kj::Clock& clock,
            Runner& runner, kj::Function<bool(uint64_t id)> isActive, RetentionConfig config);
  // Every reference outlives this object. `timer` is the loop's (monotonic)
  // timer, `clock` the realtime clock that finishedAt and createdAt are read
  // against. `isActive` says whether the scheduler still owns a task: such a
  // task is never pruned, whatever its stored state.
  // Config: maxAgeUsec 0 means no age limit, maxTasks 0 no count limit,
  // tombstoneAgeUsec 0 that tombstones are kept for ever.
  ~Retention() noexcept(false);
  KJ_DISALLOW_COPY(Retention);

  void start();
  // Call once, after recovery: counts the stored terminal tasks and sweeps
  // (in a later turn) whatever is already due, which arms the first deadline.
  // Also starts the sweep of orphaned logs (later turns, BATCH directory
  // entries each): it removes `<id>-<attempt>.log` files whose task is not
  // stored, and never one of a task whose id was handed out after start().

  void taskFinished(uint64_t id, int64_t finishedAt);
  // A task became terminal (its record is staged; it is durable once
  // commit.durable() resolves). O(1): sweeps (in a later turn) only when the
  // count of terminal tasks exceeds maxTasks; otherwise at most re-arms the
  // timer.

  void reconfigure(RetentionConfig config);
  // SIGHUP: the new limits apply from the next batch; a sweep in a later turn
  // prunes whatever they make due and re-arms the timer.

  struct Stats {
    uint64_t pruned;           // tasks pruned (durably) since start
    uint64_t logsTrimmed = 0;  // logs removed to keep a user under logs.max_bytes_per_user
    uint64_t tombstonesExpired;
    uint64_t requestsExpired;
    uint64_t orphanLogsRemoved;  // logs of tasks pruned before a crash, removed after start
  };
  Stats stats() const { return counts; }
  uint64_t logBytesOf(uint32_t uid) const;  // the finished logs counted for `uid`

 private:
  struct Pruned {
    uint64_t id;
    uint32_t uid;
    kj::Array<uint32_t> attempts;  // gathered before pruning: their logs and run files go after
  };
  struct Batch {
    kj::Vector<Pruned> pruned;
    uint64_t tombstones = 0;
    uint64_t requests = 0;
    bool more = false;  // another batch is needed
  };

  Store& store;
  GroupCommit& commit;
  kj::Timer& timer;
  const kj::Clock& clock;
  Runner& runner;
  kj::Function<bool(uint64_t id)> isActive;
  RetentionConfig config;

  bool started = false;
  uint64_t finished = 0;  // terminal tasks stored (or staged): the O(1) count check
  Stats counts = {0, 0, 0, 0, 0};

  bool sweeping = false;  // at most one sweep at a time
  bool again = false;     // something asked for a sweep while one ran
  bool lastSweepFailed = false;
  kj::HashSet<uint64_t> skipped;  // this sweep: tasks not pruned (active, or not terminal)
  bool skippedActive = false;     // some were only active: retry them soon

  int64_t hint;      // earliest age deadline reported by taskFinished, perhaps not yet in the index
  int64_t armedFor;  // realtime ns at which `alarm` fires (INT64_MAX: not armed)
  kj::Maybe<kj::Promise<void>> alarm;

  kj::TaskSet tasks;  // the sweep in progress; declared last, so destroyed first

  int64_t now() const;
  bool overCount() const;
  void requestSweep();
  kj::Promise<void> runBatch();
  void stageBatch(int64_t nowNs, Batch& batch);
  // Fills `batch` as it stages, so after an error it still lists what was.
  void afterDurable(Batch& batch);
  void endSweep(bool failed);
  int64_t nextDeadline(int64_t nowNs);
  void armFor(int64_t deadline, int64_t nowNs, kj::Duration minDelay);
  void taskFailed(kj::Exception&& exception) override;

  // The logs of finished tasks per user, while logs.max_bytes_per_user is set.
  using LogKey = std::pair<uint64_t, uint32_t>;  // task id, attempt
  struct UserLogs {
    uint64_t bytes = 0;
    std::map<LogKey, uint64_t> logs;  // oldest first
  };
  std::map<uint32_t, UserLogs> userLogs;
  void countLog(uint32_t uid, uint64_t id, uint32_t attempt, uint64_t bytes);
  void forgetLog(uint32_t uid, uint64_t id, uint32_t attempt);
  void trimUserLogs(uint32_t uid);
  void countFinishedLogs(uint64_t id);

  struct LogSweep;  // the logs directory, open across the turns of the orphan sweep
  void startLogSweep();
  kj::Maybe<kj::String> logDir();
  kj::Promise<void> sweepLogs(kj::Own<LogSweep> sweep);
  bool sweepLogBatch(LogSweep& sweep);
  // False once the whole directory has been read.
  void removeIfOrphan(LogSweep& sweep, kj::StringPtr name);
};

}  // namespace taskctl
