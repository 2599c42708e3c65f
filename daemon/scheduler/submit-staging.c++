#include "scheduler/submit-staging.h"

#include <capnp/message.h>

namespace taskctl {

SubmitStaging::SubmitStaging(Store& store, EventLog& events, QueueTable& queues, KeyRegistry& keys,
                             QueueTable::Queue& queue, uint32_t uid, uint64_t taskId)
    : store(store),
      events(events),
      queues(queues),
      keys(keys),
      taskQueue(queue),
      uid(uid),
      taskId(taskId) {}

void SubmitStaging::joined(records::Task::Reader task) {
  queues.countIn(taskQueue, uid);
  counted = true;
  seq = events.record(task, nullptr, 0, /*droppable=*/true, task.getHeld() ? "held"_kj : ""_kj);
}

void SubmitStaging::started(records::Task::Reader task, records::Attempt::Reader attempt) {
  queues.slotTaken(taskQueue, uid);
  store.putAttempt(attempt, /*droppable=*/true);
  startSeq = events.record(task, records::TaskState::QUEUED, 1, /*droppable=*/true);
}

void SubmitStaging::stored(records::Task::Reader task) { store.putTask(task, /*droppable=*/true); }

void SubmitStaging::mapRequest(kj::StringPtr id, int64_t createdAt, bool replacesStale,
                               int64_t staleCreatedAt) {
  if (replacesStale) store.deleteRequest(uid, id, staleCreatedAt);
  capnp::MallocMessageBuilder mapping(16);
  auto m = mapping.initRoot<records::RequestMapping>();
  m.setTaskId(taskId);
  m.setCreatedAt(createdAt);
  store.putRequest(uid, id, m, /*droppable=*/true);
  requestId = kj::str(id);
}

void SubmitStaging::holdKey(kj::StringPtr k) {
  keys.add(uid, k, taskId);
  key = kj::str(k);
}

void SubmitStaging::committed() {
  if (requestId.size() > 0) keys.forgetPending(uid, requestId);
}

bool SubmitStaging::refused() {
  if (requestId.size() > 0) keys.forgetPending(uid, requestId);
  if (seq != 0) events.forget(seq);
  if (counted) queues.countOut(taskQueue, uid);
  bool slotBack = startSeq != 0;
  if (slotBack) {
    // Its notify socket closes with the task's entry, which the Scheduler drops.
    events.forget(startSeq);
    queues.slotFreed(taskQueue, uid);
  }
  if (key.size() > 0) keys.remove(uid, key, taskId);
  return slotBack;
}

}  // namespace taskctl
