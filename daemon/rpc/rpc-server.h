// The Cap'n Proto server on taskctld's Unix socket (schema/rpc.capnp).
//
// Every accepted connection gets its own TwoPartyVatNetwork and RpcSystem,
// and a bootstrap capability bound to the peer's identity as the kernel
// reports it (SO_PEERCRED, SO_PEERGROUPS). A malformed or oversized message
// ends that connection only (an oversized one with "request too large").
//
// Who is served: a daemon not running as root serves only its own uid (its
// tasks would all run as itself); each uid but root may hold at most
// access.max_connections_per_user connections. Others are answered with the
// reason on their first call and closed. An accept() that fails (EMFILE, ...)
// is retried after a pause, never the end of listen().
#pragma once

#include <kj/async-io.h>
#include <sys/types.h>

#include <unordered_map>

#include "rpc/taskctl-service.h"

namespace taskctl {

class RpcServer final : private kj::TaskSet::ErrorHandler {
 public:
  // Every reference outlives the server; `config` may be replaced in place
  // (SIGHUP) between loop turns. `queries` answers every read; `events` feeds
  // `watch`; `timer` paces the progress reports a watch sends. `schedules`:
  // nullptr until setSchedules().
  RpcServer(Scheduler& scheduler, TaskQueries& queries, EventLog& events, Runner& runner,
            const Config& config, LogWatcher& logWatcher, kj::Timer& timer);

  void setSchedules(Schedules& s) { parts.schedules = s; }
  // `s` outlives the server. Without it the schedule calls refuse
  // ("schedules need systemd").
  ~RpcServer() noexcept(false);

  kj::Promise<void> listen(kj::ConnectionReceiver& listener);
  // Accepts connections until the promise is cancelled (dropping it stops
  // accepting; open connections end with the server).

  size_t connectionCount() const { return connections; }

  class Connection;

 private:
  ServiceParts parts;
  const Config& config;
  kj::Timer& timer;
  uid_t ownUid;  // geteuid(): not 0 means a private daemon
  size_t connections = 0;
  std::unordered_map<uid_t, size_t> perUser;   // open connections by peer uid
  size_t refusing = 0;                         // refused connections awaiting their answer
  kj::Duration acceptRetry = 0 * kj::SECONDS;  // the pause after a failed accept()
  size_t acceptFailures = 0;                   // since the last warning
  kj::TimePoint lastAcceptWarning = kj::origin<kj::TimePoint>();
  kj::TimePoint lastRefusalLog = kj::origin<kj::TimePoint>();
  kj::TaskSet tasks;

  void taskFailed(kj::Exception&& exception) override;
  void serve(kj::Own<kj::AsyncIoStream> stream);
  kj::Promise<void> whenDone(Connection& connection);
  // Why a connection from `uid` is not served, or nullptr.
  kj::Maybe<kj::Exception> refusalFor(uid_t uid);
};

}  // namespace taskctl
