// taskctld: the taskctl daemon. Reads like a story: signals, flags, config,
// logging, then the Daemon, which does the rest. The start-up steps are
// numbered in one sequence: 1-3 here, 4-8 in the Daemon's constructor and
// 9-12 in Daemon::run (daemon.c++).
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/debug.h>
#include <kj/main.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "daemon.h"
#include "log.h"
#include "store/store-check.h"

namespace taskctl {
namespace {

constexpr kj::StringPtr DEFAULT_CONFIG = "/etc/taskctl/taskctld.toml"_kj;

struct Flags {
  kj::Maybe<kj::String> config, stateDir, socket, runner, bus, shim;
  bool checkStore = false;          // --check-store: verify, report, exit
  kj::Maybe<kj::String> salvageTo;  // --salvage-store OUT
};

[[noreturn]] void usage(int status) {
  fprintf(status ? stderr : stdout,
          "usage: taskctld [--config PATH] [--state-dir DIR] [--socket PATH]\n"
          "                [--runner auto|scope|direct] [--bus system|none]\n"
          "       taskctld [--config PATH] [--state-dir DIR] --check-store\n"
          "       taskctld [--config PATH] [--state-dir DIR] --salvage-store NEW-DIR\n");
  exit(status);
}

Flags parseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; i++) {
    kj::StringPtr arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(0);
    if (arg == "--version") {
      printf("taskctld %s\n", TASKCTL_VERSION);
      exit(0);
    }
    if (arg == "--check-store") {
      flags.checkStore = true;
      continue;
    }
    auto eq = arg.findFirst('=');
    kj::String name = eq == nullptr ? kj::str(arg) : kj::str(arg.slice(0, KJ_ASSERT_NONNULL(eq)));
    kj::String value;
    KJ_IF_MAYBE (e, eq) {
      value = kj::str(arg.slice(*e + 1));
    } else {
      if (i + 1 >= argc) {
        fprintf(stderr, "taskctld: %s needs a value\n", arg.cStr());
        usage(64);
      }
      value = kj::str(argv[++i]);
    }
    if (name == "--config")
      flags.config = kj::mv(value);
    else if (name == "--state-dir")
      flags.stateDir = kj::mv(value);
    else if (name == "--socket")
      flags.socket = kj::mv(value);
    else if (name == "--runner")
      flags.runner = kj::mv(value);
    else if (name == "--bus")
      flags.bus = kj::mv(value);
    else if (name == "--exec-path")
      flags.shim = kj::mv(value);
    else if (name == "--salvage-store")
      flags.salvageTo = kj::mv(value);
    else {
      fprintf(stderr, "taskctld: unknown option %s\n", name.cStr());
      usage(64);
    }
  }
  return flags;
}

// taskctl-exec: beside this binary in a build tree, else where the package
// puts it.
kj::String findShim() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = 0;
    kj::StringPtr exe(self, n);
    KJ_IF_MAYBE (slash, exe.findLast('/')) {
      auto sibling = kj::str(exe.slice(0, *slash), "/taskctl-exec");
      if (access(sibling.cStr(), X_OK) == 0) return sibling;
    }
  }
  return kj::str(TASKCTL_LIBEXECDIR, "/taskctl-exec");
}

int run(int argc, char** argv) {
  // 1. Signals first: kj delivers them to the loop, and they must be blocked
  //    before anything else could receive them.
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  kj::UnixEventPort::captureSignal(SIGHUP);

  // 2. Flags, then the config file under them (flags win).
  auto flags = parseFlags(argc, argv);
  LogSink log;
  Config config;
  bool configMustExist = flags.config != nullptr;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 KJ_IF_MAYBE (path, flags.config) {
                   config = loadConfig(*path, true);
                 } else {
                   config = loadConfig(DEFAULT_CONFIG, false);
                   configMustExist = access(DEFAULT_CONFIG.cStr(), F_OK) == 0;
                 }
               })) {
    log.error(e->getDescription());
    return 1;
  }
  KJ_IF_MAYBE (v, flags.stateDir) config.stateDir = kj::mv(*v);
  KJ_IF_MAYBE (v, flags.socket) config.socketPath = kj::mv(*v);
  KJ_IF_MAYBE (v, flags.runner) {
    KJ_IF_MAYBE (choice, parseRunnerChoice(*v)) {
      config.runner = *choice;
    } else {
      log.error(kj::str("--runner must be auto, scope or direct, not \"", *v, "\""));
      return 64;
    }
  }
  KJ_IF_MAYBE (v, flags.bus) {
    KJ_IF_MAYBE (choice, parseBusChoice(*v)) {
      config.bus = *choice;
    } else {
      log.error(kj::str("--bus must be system or none, not \"", *v, "\""));
      return 64;
    }
  }
  // The offline store tools: no daemon, no lock (they only read the store,
  // LMDB read-only, so they may run beside a daemon).
  if (flags.checkStore || flags.salvageTo != nullptr) {
    auto dir = kj::str(config.stateDir, "/store");
    int status = 0;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   KJ_IF_MAYBE (out, flags.salvageTo) {
                     auto report = salvageStore(dir, *out);
                     for (auto& line : report.dropped) printf("dropped: %s\n", line.cStr());
                     printf("salvaged %llu records from %s into %s; dropped %zu\n",
                            (unsigned long long)report.records, dir.cStr(), out->cStr(),
                            report.dropped.size());
                   } else {
                     auto report = checkStore(dir);
                     for (auto& line : report.problems) printf("corrupt: %s\n", line.cStr());
                     if (report.problems.empty()) {
                       printf("store %s/data.mdb is sound: %llu records checked\n", dir.cStr(),
                              (unsigned long long)report.records);
                     } else {
                       printf("store %s/data.mdb is corrupt: %zu problems (%llu records sound)\n",
                              dir.cStr(), report.problems.size(),
                              (unsigned long long)report.records);
                       status = 1;
                     }
                   }
                 })) {
      fprintf(stderr, "taskctld: %s\n", e->getDescription().cStr());
      return 1;
    }
    fflush(stdout);
    return status;
  }
  DaemonPaths paths{
      flags.config.map([](kj::String& s) { return kj::str(s); }).orDefault(kj::str(DEFAULT_CONFIG)),
      flags.shim.map([](kj::String& s) { return kj::str(s); }).orDefault(findShim()),
      configMustExist};

  // 3. The loop, then the daemon on it (steps 4-12, daemon.c++). Startup
  //    failures (a held lock, a store that cannot be trusted) end here with
  //    one clear line.
  auto io = kj::setupAsyncIo();
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 Daemon daemon(io, kj::mv(config), kj::mv(paths));
                 daemon.run().wait(io.waitScope);
               })) {
    log.error(e->getDescription());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace taskctl

int main(int argc, char** argv) { return taskctl::run(argc, argv); }
