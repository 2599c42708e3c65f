// The read side of the RPC: a task as its caller may see it now.
//
// Reads come from the store once every change made before the call is
// flushed (flushed()), with what only the scheduler knows laid over them:
// what a task waits for, and the running attempt's progress as of now (the
// store has it as of its last write, at most once a second). Who may see a
// task is decided here, in one place, for every read: its owner, and a
// viewer that sees everyone's (root, the admin group: rpc/access decides
// which callers those are). A task the viewer may not see reads exactly like
// one that does not exist.
//
// Nothing here changes state; the RPC layer turns these records into its
// views (rpc/views.h) and never reads the store itself.
#pragma once

#include <capnp/message.h>
#include <kj/async.h>
#include <kj/function.h>
#include <records.capnp.h>

#include "scheduler/list-pages.h"
#include "scheduler/scheduler.h"
#include "store/group-commit.h"
#include "store/store.h"

namespace taskctl {

// Who reads: a uid, and whether it sees every user's tasks.
struct Viewer {
  uint32_t uid;
  bool seesAll = false;

  bool sees(uint32_t owner) const { return seesAll || owner == uid; }
};

// One task as its viewer may see it now. Valid until the next loop turn
// (the live overlay is the scheduler's).
class SeenTask {
 public:
  records::Task::Reader task() { return record->get(); }
  kj::StringPtr waitingFor() const { return waiting; }
  // For a person: why it is not running (`taskctl why`; "" for a task that
  // started or ended): Scheduler::waitingFor, and for a queued task who
  // takes its queue's slots.
  kj::Maybe<kj::ArrayPtr<const records::Attempt::Reader>> attempts() const;
  // Only when asked for: every stored attempt, ascending, the running one
  // with its progress and status text as of now.

 private:
  friend class TaskQueries;
  explicit SeenTask(kj::Own<Record<records::Task>> record) : record(kj::mv(record)) {}

  kj::Own<Record<records::Task>> record;
  kj::String waiting;
  bool withAttempts = false;
  kj::Vector<kj::Own<capnp::MallocMessageBuilder>> attemptCopies;
  kj::Array<records::Attempt::Reader> attemptReaders;
};

class TaskQueries {
 public:
  // Every reference outlives this object.
  TaskQueries(Store& store, GroupCommit& commit, Scheduler& scheduler);
  KJ_DISALLOW_COPY(TaskQueries);

  kj::Promise<void> flushed();
  // Resolves once the reads that follow see every change made before the
  // call (GroupCommit::flushed: a failing store never blocks a read).

  void requireWritable();
  // Refuses (OVERLOADED, naming the corruption) a request that would change
  // a store found corrupt: such a store is read-only.

  enum class Attempts { WITHOUT, WITH };
  kj::Maybe<SeenTask> task(uint64_t id, Viewer viewer, Attempts attempts = Attempts::WITHOUT);
  // A stored task `viewer` may see; null for one that does not exist, was
  // pruned, or is another user's.

  kj::Maybe<kj::Own<Record<records::Tombstone>>> tombstone(uint64_t id, Viewer viewer);
  // What retention left of a pruned task `viewer` may see; null otherwise.

  bool exists(uint64_t id, Viewer viewer);
  // A task or its tombstone that `viewer` may see.

  ListPage listPage(const TaskFilter& filter, uint32_t limit, uint64_t after, uint64_t through,
                    PageBounds bounds);
  // One page of a listing (list-pages.h). The filter decides whose tasks:
  // the caller sets its uid for a viewer who does not see all.

  void forEachLabelled(kj::StringPtr key,
                       kj::FunctionParam<void(uint32_t uid, kj::StringPtr value, uint64_t id)> fn);
  // Every stored task with a label `key`, ascending by id (one pass): for
  // `schedule list`, the tasks each schedule submitted.

 private:
  Store& store;
  GroupCommit& commit;
  Scheduler& scheduler;

  kj::String slotsLine(kj::StringPtr queue, uint32_t uid);
};

}  // namespace taskctl
