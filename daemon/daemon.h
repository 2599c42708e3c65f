// The composition root of taskctld: builds every component in dependency
// order (store, runner, scheduler, RPC) and runs until asked to stop.
#pragma once

#include <kj/async-io.h>
#include <kj/async-unix.h>

#include "config/config.h"

namespace taskctl {

struct DaemonPaths {
  kj::String configPath;
  kj::String shimPath;  // taskctl-exec
};

class Daemon {
 public:
  Daemon(kj::AsyncIoContext& io, Config config, DaemonPaths paths);
  ~Daemon() noexcept(false);

  kj::Promise<void> run();
  // Serves until SIGTERM or SIGINT, which end it promptly and leave running
  // executions alone. SIGHUP reloads the config.

 private:
  struct Impl;
  kj::Own<Impl> impl;
};

}  // namespace taskctl
