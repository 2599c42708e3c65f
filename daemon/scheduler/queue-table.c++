#include "scheduler/queue-table.h"

#include <kj/debug.h>

#include "common/errors.h"

namespace taskctl {

QueueTable::QueueTable(Store& store) : store(store) {}

QueueTable::Queue& QueueTable::named(kj::StringPtr name) {
  auto it = queues.find(name);
  if (it == queues.end()) refuse(kj::str("unknown queue \"", name, "\""));
  return it->second;
}

QueueTable::Queue& QueueTable::ofTask(kj::StringPtr name, uint64_t taskId) {
  auto it = queues.find(name);
  if (it == queues.end()) {
    KJ_LOG(WARNING, "task in a queue the config no longer has", taskId, name);
    it = queues
             .emplace(kj::str(name), Queue{kj::str(name),
                                           1,
                                           0,
                                           {},
                                           QueueConfig{kj::str(name), 1},
                                           nullptr,
                                           false,
                                           kj::str()})
             .first;
  }
  return it->second;
}

void QueueTable::reload(const Config& config, kj::FunctionParam<bool(Queue&, uint64_t id)> isReady,
                        kj::FunctionParam<void(Queue&, uint64_t id)> addReady) {
  auto copy = [](const QueueConfig& q) {
    QueueConfig c = {kj::str(q.name), q.concurrency};
    c.timeoutUsec = q.timeoutUsec;
    c.killGraceUsec = q.killGraceUsec;
    c.heartbeatUsec = q.heartbeatUsec;
    c.cpuQuotaPerSecUsec = q.cpuQuotaPerSecUsec;
    c.memoryMaxBytes = q.memoryMaxBytes;
    c.tasksMax = q.tasksMax;
    c.maxTimeoutUsec = q.maxTimeoutUsec;
    c.maxMemoryBytes = q.maxMemoryBytes;
    c.maxCpuQuotaPerSecUsec = q.maxCpuQuotaPerSecUsec;
    c.pauseOnFailure = q.pauseOnFailure;
    c.fairShare = q.fairShare;
    c.maxActiveTasksPerUser = q.maxActiveTasksPerUser;
    c.maxUserPriority = q.maxUserPriority;
    KJ_IF_MAYBE (slurm, q.slurm) {
      c.slurm = cloneSlurmQueueConfig(*slurm);
    }
    return c;
  };
  limits = config.limits;
  for (auto& q : config.queues) {
    auto it = queues.find(q.name);
    if (it == queues.end()) {
      Queue queue{kj::str(q.name), q.concurrency, 0, {}, copy(q), nullptr, false, kj::str()};
      auto& added = queues.emplace(kj::str(q.name), kj::mv(queue)).first->second;
      added.ready.setFairShare(
          q.fairShare, [](uint64_t) { return false; }, [](uint64_t) {});
    } else {
      it->second.defaults = copy(q);
      auto& queue = it->second;
      queue.ready.setFairShare(
          q.fairShare, [&](uint64_t id) { return isReady(queue, id); },
          [&](uint64_t id) { addReady(queue, id); });
      KJ_IF_MAYBE (set, it->second.concurrencySet) {
        it->second.concurrency = *set;
      } else {
        it->second.concurrency = q.concurrency;
      }
    }
  }
}

void QueueTable::loadSettings() {
  // Settings made at run time win over the TOML until reset.
  store.forEachQueueSettings([this](records::QueueSettings::Reader settings) {
    auto it = queues.find(settings.getName());
    if (it == queues.end()) return;  // a queue the config no longer has
    applySettings(it->second, settings);
  });
}

void QueueTable::applySettings(Queue& queue, records::QueueSettings::Reader settings) {
  if (settings.getHasConcurrency()) {
    queue.concurrencySet = settings.getConcurrency();
    queue.concurrency = settings.getConcurrency();
  }
  queue.paused = settings.getPaused();
  queue.pausedReason = kj::str(settings.getPausedReason());
}

void QueueTable::persistSettings(Queue& queue) {
  if (queue.concurrencySet == nullptr && !queue.paused) {
    store.deleteQueueSettings(queue.name);
    return;
  }
  capnp::MallocMessageBuilder message(64);
  auto settings = message.initRoot<records::QueueSettings>();
  settings.setName(queue.name);
  KJ_IF_MAYBE (n, queue.concurrencySet) {
    settings.setHasConcurrency(true);
    settings.setConcurrency(*n);
  }
  settings.setPaused(queue.paused);
  settings.setPausedReason(queue.pausedReason);
  store.putQueueSettings(settings);
}

QueueTable::Queue& QueueTable::setConcurrency(kj::StringPtr name, kj::Maybe<uint32_t> concurrency,
                                              uid_t by) {
  auto& queue = named(name);
  KJ_IF_MAYBE (n, concurrency) {
    if (*n < 1 || *n > 10000) refuse(kj::str("concurrency ", *n, " is not in 1..10000"));
    queue.concurrencySet = *n;
    queue.concurrency = *n;
    KJ_LOG(INFO, "queue concurrency set", queue.name, *n, by);
  } else {
    queue.concurrencySet = nullptr;
    queue.concurrency = queue.defaults.concurrency;
    uint32_t fromConfig = queue.concurrency;
    KJ_LOG(INFO, "queue concurrency back to the config's", queue.name, fromConfig, by);
  }
  persistSettings(queue);
  return queue;
}

QueueTable::Queue& QueueTable::setPaused(kj::StringPtr name, bool paused, uid_t by) {
  auto& queue = named(name);
  queue.paused = paused;
  queue.pausedReason = paused ? kj::str("paused by uid ", by) : kj::str();
  KJ_LOG(INFO, paused ? "queue paused" : "queue resumed", queue.name, by);
  persistSettings(queue);
  return queue;
}

void QueueTable::pauseOnFailure(Queue& queue, uint64_t taskId, kj::StringPtr message) {
  if (!queue.defaults.pauseOnFailure || queue.paused) return;
  queue.paused = true;
  queue.pausedReason = kj::str("paused because task ", taskId, " failed: ", message);
  KJ_LOG(WARNING, "queue paused (pause_on_failure)", queue.name, taskId);
  persistSettings(queue);
}

QueueInfo QueueTable::infoOf(Queue& queue, uint32_t waiting) {
  return QueueInfo{kj::str(queue.name),
                   queue.concurrency,
                   queue.concurrencySet == nullptr,
                   queue.running,
                   static_cast<uint32_t>(queue.ready.size()),
                   waiting,
                   queue.paused,
                   kj::str(queue.pausedReason)};
}

kj::Vector<QueueInfo> QueueTable::queueList(kj::FunctionParam<uint32_t(Queue&)> waitingOf) {
  kj::Vector<QueueInfo> out;
  for (auto& [name, queue] : queues) out.add(infoOf(queue, waitingOf(queue)));
  return out;
}

void QueueTable::slotTaken(Queue& queue, uint32_t uid) {
  queue.running++;
  runningAll++;
  queue.ready.started(uid);
}

void QueueTable::slotFreed(Queue& queue, uint32_t uid) {
  queue.running--;
  queue.ready.ended(uid);
  KJ_ASSERT(runningAll > 0);
  if (--runningAll == 0) {
    KJ_IF_MAYBE (fn, idle) (*fn)();
  }
}

void QueueTable::countIn(Queue& queue, uint32_t uid) {
  queue.ready.joined(uid);
  activePerUser[uid]++;
}

void QueueTable::countOut(Queue& queue, uint32_t uid) {
  queue.ready.left(uid);
  auto it = activePerUser.find(uid);
  KJ_ASSERT(it != activePerUser.end() && it->second > 0);
  if (--it->second == 0) activePerUser.erase(it);
}

void QueueTable::checkFairUse(Queue& queue, int32_t priority, uint32_t uid, bool exempt,
                              kj::Maybe<Queue&> already) {
  // Root and the admin group run the server: none of this binds them.
  if (exempt) return;
  int32_t highest = queue.defaults.maxUserPriority;
  if (priority > highest) {
    refuse(kj::str("permission denied: priority ", priority, " is above ", highest,
                   ", the highest a user may set in queue ", queue.name, " (queues.", queue.name,
                   ".max_user_priority); only root and the admin "
                   "group may raise it"));
  }
  // Over a quota: "try later" (exit 75), not bad input: it passes as tasks end.
  uint64_t inQueue = queue.ready.activeOf(uid);
  uint64_t queueLimit = queue.defaults.maxActiveTasksPerUser;
  bool moving = false;
  KJ_IF_MAYBE (from, already) {
    if (&*from == &queue) return;  // it counts there already
    moving = true;
  }
  if (queueLimit != 0 && inQueue >= queueLimit) {
    overloaded(kj::str("quota: user ", uid, " has ", inQueue, " active tasks in queue ", queue.name,
                       ", the limit (queues.", queue.name, ".max_active_tasks_per_user) is ",
                       queueLimit, "; submit again once some have ended"));
  }
  auto it = activePerUser.find(uid);
  uint64_t everywhere = it == activePerUser.end() ? 0 : it->second;
  uint64_t limit = limits.maxActiveTasksPerUser;
  if (limit != 0 && everywhere >= limit && !moving) {
    overloaded(kj::str("quota: user ", uid, " has ", everywhere,
                       " active tasks, the limit (limits.max_active_tasks_per_user) is ", limit,
                       "; submit again once some have ended"));
  }
}

}  // namespace taskctl
