#include "scheduler/task-queries.h"

namespace taskctl {

kj::Maybe<kj::ArrayPtr<const records::Attempt::Reader>> SeenTask::attempts() const {
  if (!withAttempts) return nullptr;
  return attemptReaders.asPtr();
}

namespace {

kj::String idList(kj::ArrayPtr<const uint64_t> ids) {
  return kj::strArray(
      KJ_MAP(id, ids) { return kj::str(id); }, ", ");
}

}  // namespace

kj::String TaskQueries::slotsLine(kj::StringPtr queue, uint32_t uid) {
  // Why a queued task in a queue that is not paused has not started: its
  // slots are taken, or it is next (a slot frees, or tasks ahead of it).
  // Per-user quotas never keep a stored task waiting: they refuse at submit.
  auto holders = scheduler.slotHolders(queue, uid);
  if (holders.ids.size() >= holders.concurrency && holders.concurrency > 0) {
    auto taken = kj::str("queue ", queue, "'s ", holders.concurrency,
                         holders.concurrency == 1 ? " slot" : " slots", " taken by ",
                         holders.ids.size() == 1 ? "task " : "tasks ", idList(holders.ids));
    // With fair share and other users' tasks in the slots, who gets the next
    // free one depends on the owner's share: what a user on a shared server
    // asks about.
    bool othersHold = holders.uidRunning < holders.ids.size();
    if (!holders.fairShare || !othersHold) return taken;
    return kj::str(
        taken, "; fair share: a free slot goes to the user running fewest here (its owner runs ",
        holders.uidRunning, ")");
  }
  return kj::str("queued in ", queue, " for a free slot (tasks ahead of it go first)");
}

TaskQueries::TaskQueries(Store& store, GroupCommit& commit, Scheduler& scheduler)
    : store(store), commit(commit), scheduler(scheduler) {}

kj::Promise<void> TaskQueries::flushed() { return commit.flushed(); }

void TaskQueries::requireWritable() { store.requireWritable(); }

kj::Maybe<SeenTask> TaskQueries::task(uint64_t id, Viewer viewer, Attempts attempts) {
  kj::Maybe<SeenTask> result;
  KJ_IF_MAYBE (record, store.getTask(id)) {
    if (!viewer.sees((*record)->get().getUid())) return nullptr;
    SeenTask seen(kj::mv(*record));
    auto t = seen.task();
    seen.waiting = scheduler.waitingFor(t);
    if (seen.waiting.size() == 0 && t.getState() == records::TaskState::QUEUED) {
      seen.waiting = slotsLine(t.getQueue(), t.getUid());
    }
    if (attempts == Attempts::WITH) {
      seen.withAttempts = true;
      store.forEachAttempt(id, [&](records::Attempt::Reader a) {
        auto copy = kj::heap<capnp::MallocMessageBuilder>(a.totalSize().wordCount + 8);
        copy->setRoot(a);
        seen.attemptCopies.add(kj::mv(copy));
      });
      // The running attempt's progress as of now, not as of its last write.
      KJ_IF_MAYBE (live, scheduler.liveAttempt(id)) {
        for (auto& copy : seen.attemptCopies) {
          auto a = copy->getRoot<records::Attempt>();
          if (a.getNumber() == live->getNumber()) {
            a.setProgress(live->getProgress());
            a.setStatusText(live->getStatusText());
          }
        }
      }
      seen.attemptReaders = KJ_MAP(copy, seen.attemptCopies) {
        return copy->getRoot<records::Attempt>().asReader();
      };
    }
    result = kj::mv(seen);
  }
  return result;
}

kj::Maybe<kj::Own<Record<records::Tombstone>>> TaskQueries::tombstone(uint64_t id, Viewer viewer) {
  KJ_IF_MAYBE (found, store.getTombstone(id)) {
    if (viewer.sees((*found)->get().getUid())) return kj::mv(*found);
  }
  return nullptr;
}

bool TaskQueries::exists(uint64_t id, Viewer viewer) {
  // A task and its tombstone are never both stored: the prune that writes
  // one deletes the other in the same transaction.
  KJ_IF_MAYBE (record, store.getTask(id)) return viewer.sees((*record)->get().getUid());
  return tombstone(id, viewer) != nullptr;
}

ListPage TaskQueries::listPage(const TaskFilter& filter, uint32_t limit, uint64_t after,
                               uint64_t through, PageBounds bounds) {
  return readListPage(store, filter, limit, after, through, bounds);
}

void TaskQueries::forEachLabelled(
    kj::StringPtr key, kj::FunctionParam<void(uint32_t uid, kj::StringPtr value, uint64_t id)> fn) {
  store.forEachTask([&](records::Task::Reader task) {
    for (auto label : task.getLabels()) {
      if (label.getKey() == key) fn(task.getUid(), label.getValue(), task.getId());
    }
    return true;
  });
}

}  // namespace taskctl
