// The Cap'n Proto server on taskctld's Unix socket (schema/rpc.capnp).
//
// Every accepted connection gets its own TwoPartyVatNetwork and RpcSystem,
// and a bootstrap capability bound to the peer's identity as the kernel
// reports it (SO_PEERCRED, SO_PEERGROUPS). A malformed or oversized message
// ends that connection only.
#pragma once

#include <kj/async-io.h>

#include "config/config.h"
#include "events/event-log.h"
#include "rpc/log-watcher.h"
#include "runner/runner.h"
#include "schedule/schedules.h"
#include "scheduler/scheduler.h"
#include "store/group-commit.h"
#include "store/store.h"

namespace taskctl {

class RpcServer final: private kj::TaskSet::ErrorHandler {
 public:
  // Every reference outlives the server; `config` may be replaced in place
  // (SIGHUP) between loop turns. `events` feeds `watch`; `timer` paces the
  // progress reports a watch sends. `schedules`: nullptr until setSchedules().
  RpcServer(Scheduler& scheduler, Store& store, GroupCommit& commit, EventLog& events,
            Runner& runner, const Config& config, LogWatcher& logWatcher, kj::Timer& timer);

  void setSchedules(Schedules& s) { schedules = s; }
  // `s` outlives the server. Without it the schedule calls refuse
  // ("schedules need systemd").
  ~RpcServer() noexcept(false);

  kj::Promise<void> listen(kj::ConnectionReceiver& listener);
  // Accepts connections until the promise is cancelled (dropping it stops
  // accepting; open connections end with the server).

  size_t connectionCount() const { return connections; }

  class Connection;
  class TaskctlImpl;

 private:
  Scheduler& scheduler;
  Store& store;
  GroupCommit& commit;
  EventLog& events;
  Runner& runner;
  const Config& config;
  LogWatcher& logWatcher;
  kj::Timer& timer;
  kj::Maybe<Schedules&> schedules;
  size_t connections = 0;
  kj::TaskSet tasks;

  void taskFailed(kj::Exception&& exception) override;
  void serve(kj::Own<kj::AsyncIoStream> stream);
};

}  // namespace taskctl
