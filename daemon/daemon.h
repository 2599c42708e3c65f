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
  bool configMustExist = false;
  // A reload that finds no file at configPath fails (and keeps the old
  // config) rather than going back to the built-in defaults. True for an
  // explicit --config, and for the default path once a file was read there:
  // only a default path that never held a file means the built-in defaults.
};

class Daemon {
 public:
  Daemon(kj::AsyncIoContext& io, Config config, DaemonPaths paths);
  // Start-up steps 4-8 (main.c++ does 1-3): the state-dir lock, the store,
  // the runner, the scheduler and its parts, the bus side. A start-up that
  // cannot go on throws FAILED with the line a person reads.
  ~Daemon() noexcept(false);

  kj::Promise<void> run();
  // Steps 9-12: recovery, the listen socket, READY, dispatch. Serves until SIGTERM or SIGINT, which
  // end it promptly and leave running executions alone. SIGHUP reloads the config.

 private:
  kj::Promise<void> serve();  // run() once the Slurm queues are checked

  struct Impl;
  kj::Own<Impl> impl;
};

}  // namespace taskctl
