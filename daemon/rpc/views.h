// Records -> RPC views (schema/rpc.capnp): what a caller is shown of a task,
// an attempt, a pruned task, a queue or a schedule. Pure functions: they
// copy fields and name states, read nothing else and decide nothing about
// who may see what (task-queries and rpc/access do that).
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <records.capnp.h>
#include <rpc.capnp.h>

#include "scheduler/scheduler.h"
#include "scheduler/task-queries.h"
#include "timers/schedules.h"

namespace taskctl {

void fillTask(records::Task::Reader t, kj::StringPtr waitingFor,
              kj::Maybe<kj::ArrayPtr<const records::Attempt::Reader>> attempts, bool withEnv,
              rpc::TaskView::Builder v);
// Every field of the view but `pruned`; env only `withEnv` (it may hold
// secrets); attempts only when given (else the list is left null).

void fillTask(SeenTask& seen, bool withEnv, rpc::TaskView::Builder v);
// The same, from what TaskQueries::task() returned.

void fillTombstone(records::Tombstone::Reader t, rpc::TaskView::Builder v);
// A pruned task: its final state, `pruned`, and a message that says so.

void fillAttempt(records::Attempt::Reader a, rpc::AttemptView::Builder v);

void fillQueue(const Scheduler::QueueInfo& info, rpc::QueueView::Builder v);

void fillSchedule(const ScheduleInfo& s, kj::ArrayPtr<const uint64_t> taskIds,
                  rpc::ScheduleView::Builder v);
// `taskIds`: the tasks it submitted, ascending.

kj::Maybe<records::TaskState> stateNamed(kj::StringPtr name);
// The state a view names `name` (stateName's inverse); null for no state.

}  // namespace taskctl
