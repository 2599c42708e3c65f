// The Taskctl interface (schema/rpc.capnp) for one connection: every call
// acts as the peer the socket names (rpc/access decides what it may do),
// reads through TaskQueries, changes through the Scheduler (and Schedules),
// and answers with rpc/views.
#pragma once

#include <kj/timer.h>
#include <rpc.capnp.h>

#include "config/config.h"
#include "events/event-log.h"
#include "rpc/access.h"
#include "rpc/log-watcher.h"
#include "runner/runner.h"
#include "scheduler/scheduler.h"
#include "scheduler/task-queries.h"
#include "timers/schedules.h"

namespace taskctl {

// Large enough that a too-large command still reaches validation and gets a
// clear error (the limit there is 1 MiB of argv + env); a larger frame is
// read to its end and answered "request too large" (LimitedMessageStream),
// then its connection is closed. Bounds a reply as well.
constexpr uint64_t MAX_MESSAGE_BYTES = 8 << 20;
constexpr uint64_t MAX_MESSAGE_WORDS = MAX_MESSAGE_BYTES / sizeof(capnp::word);

// What every connection's service uses; each reference outlives the server
// (`config` may be replaced in place between loop turns).
struct ServiceParts {
  Scheduler& scheduler;
  TaskQueries& queries;
  EventLog& events;
  Runner& runner;
  const Config& config;
  LogWatcher& logWatcher;
  kj::Timer& timer;
  kj::Maybe<Schedules&> schedules;  // null: the schedule calls refuse ("schedules need systemd")
};

kj::Own<rpc::Taskctl::Server> newTaskctlService(ServiceParts& parts, Access access);
// `parts` outlives the service.

}  // namespace taskctl
