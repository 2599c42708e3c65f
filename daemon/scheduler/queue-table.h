// The scheduler's queues by name: each one's slots, ready list and defaults,
// its run-time settings (`queue set`, `queue pause`, pause_on_failure: stored,
// and winning over the TOML until reset), and what each user holds, for the
// per-user quotas and fair share (DESIGN 6, "A shared server"). Owned by the
// Scheduler, which tells it of every start, end, join and leave; it calls no
// one but the store (its settings) and its queues' ready lists.
#pragma once

#include <kj/function.h>
#include <kj/string.h>
#include <kj/vector.h>

#include <map>

#include "config/config.h"
#include "scheduler/fair-share.h"
#include "store/store.h"

namespace taskctl {

// A queue as `queue list` shows it.
struct QueueInfo {
  kj::String name;
  uint32_t concurrency;
  bool fromConfig;
  uint32_t running, queued, waiting;
  bool paused;
  kj::String pausedReason;
  bool drained = false;  // taskctld is drained (the Scheduler's to say)
};

class QueueTable {
 public:
  struct Queue {
    kj::String name;
    uint32_t concurrency;                // in force: the run-time setting, else the TOML's
    uint32_t running = 0;                // slots taken: starting + running
    FairReady ready;                     // ready tasks and who runs what: the dispatch order
    QueueConfig defaults;                // the TOML's: limits for tasks that do not set their own
    kj::Maybe<uint32_t> concurrencySet;  // `queue set` (persisted)
    bool paused = false;                 // `queue pause` or pause_on_failure (persisted)
    kj::String pausedReason;
    bool waitingForRunner = false;  // dispatch waits for its runner (runner.h, available)
  };
  struct NameLess {
    using is_transparent = void;
    bool operator()(kj::StringPtr a, kj::StringPtr b) const { return a < b; }
  };
  // Queues are never removed: a Queue& (and Active::queue) stays valid.
  using Map = std::map<kj::String, Queue, NameLess>;

  explicit QueueTable(Store& store);  // `store` outlives this object
  KJ_DISALLOW_COPY(QueueTable);

  // ---- The queues ----

  Map::iterator find(kj::StringPtr name) { return queues.find(name); }
  Map::iterator begin() { return queues.begin(); }
  Map::iterator end() { return queues.end(); }

  Queue& named(kj::StringPtr name);  // refuses an unknown queue
  Queue& ofTask(kj::StringPtr name, uint64_t taskId);
  // A stored task's queue. One the config no longer has (removed while it
  // still had tasks) is added with one slot, rather than stranding them.

  void reload(const Config& config, kj::FunctionParam<bool(Queue&, uint64_t id)> isReady,
              kj::FunctionParam<void(Queue&, uint64_t id)> addReady);
  // The TOML's queues and limits (at start and on SIGHUP): new queues are
  // added, known ones take the new defaults (a run-time concurrency stays).
  // Switching fair share rebuilds a ready list: `isReady` says which of its
  // ids still are, `addReady` puts one back.
  void loadSettings();
  // The run-time settings stored by an earlier run (once, at start).

  // ---- Run-time settings, each stored before the caller acts on it ----

  Queue& setConcurrency(kj::StringPtr name, kj::Maybe<uint32_t> concurrency, uid_t by);
  // null: back to the TOML's value. Refuses a value outside 1..10000.
  Queue& setPaused(kj::StringPtr name, bool paused, uid_t by);
  void pauseOnFailure(Queue& queue, uint64_t taskId, kj::StringPtr message);
  // pause_on_failure: `taskId` ended `failed`.

  QueueInfo infoOf(Queue& queue, uint32_t waiting);
  kj::Vector<QueueInfo> queueList(kj::FunctionParam<uint32_t(Queue&)> waitingOf);
  // `waiting`: its tasks waiting or retrying, which only the Scheduler sees.

  // ---- What each user holds ----

  void slotTaken(Queue& queue, uint32_t uid);  // a start in `queue` (running + fair share)
  void slotFreed(Queue& queue, uint32_t uid);
  uint32_t runningEverywhere() const { return runningAll; }  // slots taken in all queues
  void onIdle(kj::Function<void()> fn) { idle = kj::mv(fn); }
  // Called when the last slot taken in any queue is freed (`drain --wait`).
  void countIn(Queue& queue, uint32_t uid);  // a task becomes active (quotas)
  void countOut(Queue& queue, uint32_t uid);
  void checkFairUse(Queue& queue, int32_t priority, uint32_t uid, bool exempt,
                    kj::Maybe<Queue&> already = nullptr);
  // Refuses what a user may not take on a shared server: a priority above
  // the queue's max_user_priority, a task over a per-user quota. `exempt`:
  // root or the admin group. `already`: the queue of an active task that
  // moves (an edit): it counts in the user's quota already, and in that
  // queue's.

 private:
  Store& store;
  Map queues;
  // Active tasks per user in all queues (limits.max_active_tasks_per_user),
  // counted from staging, so a pipelined flood is counted before it is durable.
  std::map<uint32_t, uint64_t> activePerUser;
  LimitsConfig limits;
  uint32_t runningAll = 0;
  kj::Maybe<kj::Function<void()>> idle;

  void applySettings(Queue& queue, records::QueueSettings::Reader settings);
  void persistSettings(Queue& queue);
};

}  // namespace taskctl
