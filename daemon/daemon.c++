#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "bus/bus-connection.h"
#include "bus/manager-object.h"
#include "bus/systemd-manager.h"
#include "common/errors.h"
#include "events/event-log.h"
#include "notify/notify-hub-impl.h"
#include "rpc/listen-socket.h"
#include "rpc/rpc-server.h"
#include "runner/direct-runner.h"
#include "runner/queue-runners.h"
#include "runner/scope-runner.h"
#include "runner/shim-launcher.h"
#include "scheduler/retention.h"
#include "scheduler/scheduler.h"
#include "scheduler/task-queries.h"
#include "scheduler/timerfd-wall-timer.h"
#include "state-lock.h"
#include "store/group-commit.h"
#include "store/store.h"
#include "timers/schedules.h"
#include "timers/systemd-analyze.h"
#include "trusted-dir.h"

namespace taskctl {
namespace {

// Raises the soft RLIMIT_NOFILE to the hard one: each client connection is
// an fd, and at the usual soft limit of 1024 a thousand connections would
// leave none to accept with, or to start a task. Returns the soft limit we
// started with: the shim gives that back to every command, so tasks see the
// limit they always saw, not ours.
uint64_t raiseNofileLimit() {
  struct rlimit limit;
  KJ_SYSCALL(getrlimit(RLIMIT_NOFILE, &limit));
  uint64_t started = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    rlim_t soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
      int error = errno;
      KJ_LOG(WARNING, "cannot raise the open-file limit", soft, strerror(error));
    }
  }
  return started;
}

kj::String parentDir(kj::StringPtr path) {
  KJ_IF_MAYBE (slash, path.findLast('/')) {
    if (*slash > 0) return kj::heapString(path.slice(0, *slash));
  }
  return kj::str(".");
}

// The socket's directory (0755: every user reaches the socket) and its notify
// directory (0755: each task reaches its own socket, 0600 and chowned to it),
// created or checked as ours alone. Returns the socket directory's fd.
kj::AutoCloseFd openRunDirs(kj::StringPtr socketPath) {
  auto dir = parentDir(socketPath);
  auto fd = openTrustedDir("socket directory", dir, 0755);
  openTrustedDir("notify directory", kj::str(dir, "/notify"), 0755);
  return fd;
}

}  // namespace

struct Daemon::Impl {
  kj::AsyncIoContext& io;
  Config config;
  DaemonPaths paths;
  kj::AutoCloseFd lock;
  kj::AutoCloseFd runDir;
  Store store;
  GroupCommit commit;
  EventLog events;
  ShimLauncher launcher;
  DirectRunner directRunner;
  kj::Maybe<kj::Own<BusConnection>> bus;
  kj::Maybe<kj::Own<SystemdManager>> systemd;
  kj::Maybe<kj::Own<ScopeRunner>> scopeRunner;
  Runner& runner;
  QueueRunners runners;  // runner, but a Slurm runner for each `runner = "slurm"` queue
  SocketNotifyHub notifyHub;
  TimerfdWallTimer wallTimer;
  Scheduler scheduler;
  Retention retention;
  TaskQueries queries;
  LogWatcher logWatcher;
  // Only with systemd (the scope runner's bus); set in the body, and
  // outliving the RPC server whose calls may hold on to them.
  kj::Maybe<kj::Own<SystemdAnalyze>> calendarCheck;
  kj::Maybe<kj::Own<Schedules>> schedules;
  RpcServer rpc;
  kj::Maybe<kj::Own<ManagerObject>> busObject;  // io.taskctl1, whenever there is a bus
  kj::Own<EventLog::Subscription> busEvents;
  kj::Own<kj::ConnectionReceiver> listener;

  Impl(kj::AsyncIoContext& io, Config configArg, DaemonPaths pathsArg)
      : io(io),
        config(kj::mv(configArg)),
        paths(kj::mv(pathsArg)),
        // Start-up, continued from main.c++ (steps 1-3 there); steps 4-8
        // build, Daemon::run does 9-12.
        // 4. One daemon per state directory.
        lock(lockStateDir(config.stateDir)),
        // The socket's directory and the notify sockets' in it: checked as
        // the state dir is, under socket activation too (the notify dir).
        runDir(openRunDirs(config.socketPath)),
        // 5. The store: refused, never replaced, if it cannot be trusted.
        store(kj::str(config.stateDir, "/store"),
              StoreOptions{config.storeMapBytes, config.storeMaxMapBytes, true}),
        commit(store, io.provider->getTimer()),
        events(store, commit, kj::systemPreciseCalendarClock(), config.eventsMaxStored),
        // 6. The runner. Without privileges the shim runs commands as us.
        launcher(io.unixEventPort, config.stateDir, paths.shimPath, geteuid() == 0,
                 config.logMaxBytes, config.logMinFreeBytes),
        directRunner(launcher),
        runner(pickRunner()),
        runners(runner),
        // 7. What the runner's tasks talk to and the scheduler over it all,
        //    built idle: nothing is dispatched or served before step 12.
        //    The body below is step 8, the bus side (schedules through
        //    systemd, the io.taskctl1 object). Notify sockets go beside
        //    the RPC socket: /run/taskctl/notify under systemd.
        notifyHub(io.unixEventPort, kj::str(parentDir(config.socketPath), "/notify")),
        wallTimer(io.unixEventPort),
        scheduler(store, commit, events, runners, notifyHub, io.provider->getTimer(),
                  kj::systemPreciseCalendarClock(), wallTimer, config),
        retention(
            store, commit, io.provider->getTimer(), kj::systemPreciseCalendarClock(), runners,
            [this](uint64_t id) { return scheduler.isActive(id); }, config.retention),
        queries(store, commit, scheduler),
        logWatcher(io.unixEventPort, kj::str(config.stateDir, "/logs")),
        rpc(scheduler, queries, events, runners, config, logWatcher, io.provider->getTimer()) {
    // A Slurm attempt's files are where its record says (queue-runners.h).
    runners.setAttemptLookup([this](uint64_t id, uint32_t n) {
      KJ_IF_MAYBE (attempt, store.getAttempt(id, n)) {
        return kj::str((*attempt)->get().getSharedDir());
      }
      return kj::str();
    });
    // Schedules: unit files in /etc/systemd/system, through systemd's D-Bus API.
    KJ_IF_MAYBE (manager, systemd) {
      auto check =
          kj::heap<SystemdAnalyze>(io.unixEventPort, *io.lowLevelProvider, io.provider->getTimer());
      auto made = kj::heap<Schedules>(
          **manager, *check,
          Schedules::Paths{kj::str("/etc/systemd/system"), kj::str("/usr/bin/taskctl"),
                           kj::str(config.socketPath)});
      rpc.setSchedules(*made);
      calendarCheck = kj::mv(check);
      schedules = kj::mv(made);
    }
    // D-Bus: the io.taskctl1 object, under any runner. Without a bus yet
    // (--runner direct, or none answered) it comes when one does.
    if (config.bus == BusChoice::SYSTEM) {
      if (bus == nullptr) {
        bus = kj::heap<BusConnection>(io.unixEventPort, io.provider->getTimer(),
                                      BusConnection::Start::BACKGROUND);
      }
      auto object = kj::heap<ManagerObject>(*KJ_ASSERT_NONNULL(bus), io.provider->getTimer(),
                                            [this]() { return busState(); });
      busEvents = events.subscribe(*object);
      busObject = kj::mv(object);
    }
  }

  ManagerState busState() {
    auto counts = scheduler.counts();
    ManagerState state;
    state.version = TASKCTL_VERSION;
    state.waiting = counts.waiting;
    state.retrying = counts.retrying;
    state.queued = counts.queued;
    state.running = counts.running;
    state.succeeded = counts.succeeded;
    state.failed = counts.failed;
    state.cancelled = counts.cancelled;
    state.lastSeq = events.lastPublished();
    state.drained = scheduler.drained();
    return state;
  }

  // DESIGN 8: auto is `scope` when systemd is PID 1 and the system bus
  // answers, else `direct`; `scope` asked for but impossible is an error.
  Runner& pickRunner() {
    if (config.runner == RunnerChoice::DIRECT) return directRunner;
    bool wanted = config.runner == RunnerChoice::SCOPE;
    if (config.bus == BusChoice::NONE) {
      if (wanted) refuse(kj::str("--runner scope needs the system bus, but --bus is none"));
      return directRunner;
    }
    if (!systemdIsInit()) {
      if (wanted) refuse(kj::str("--runner scope needs systemd as PID 1; it is not"));
      return directRunner;
    }
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   auto connection = kj::heap<BusConnection>(
                       io.unixEventPort, io.provider->getTimer(), BusConnection::Start::NOW);
                   systemd = kj::heap<SystemdManager>(*connection, io.provider->getTimer());
                   bus = kj::mv(connection);
                 })) {
      if (wanted) refuse(kj::str("--runner scope: ", e->getDescription()));
      KJ_LOG(WARNING, "no system bus; running tasks without scopes", e->getDescription());
      systemd = nullptr;
      bus = nullptr;
      return directRunner;
    }
    auto& manager = *KJ_ASSERT_NONNULL(systemd);
    auto runner = kj::heap<ScopeRunner>(launcher, manager, isCgroupV2());
    auto& ref = *runner;
    scopeRunner = kj::mv(runner);
    return ref;
  }

  // The Slurm runners the configuration asks for, checked (sbatch there, the
  // partition known, the controller answering through munge) before any is
  // used: at start a failure stops the daemon, at reload it keeps the old
  // configuration. Both name the queue.
  kj::Promise<void> applySlurmQueues(const Config& wanted) {
    kj::Vector<kj::Promise<void>> checks;
    auto made = kj::heap<kj::Vector<kj::Own<SlurmRunner>>>();
    for (auto& queue : wanted.queues) {
      KJ_IF_MAYBE (slurm, queue.slurm) {
        KJ_IF_MAYBE (existing, runners.slurmFor(queue.name)) {
          if (sameSlurmQueueConfig(existing->config(), *slurm)) continue;
        }
        auto runner = kj::heap<SlurmRunner>(io.unixEventPort, io.provider->getTimer(), launcher,
                                            queue.name, *slurm);
        checks.add(runner->check());
        made->add(kj::mv(runner));
      }
    }
    return kj::joinPromises(checks.releaseAsArray())
        .then([this, made = kj::mv(made), &wanted]() mutable {
          for (auto& runner : *made) {
            auto name = kj::str(runner->queueName());
            runners.setSlurm(name, kj::mv(runner));
          }
          // A queue that is no longer a Slurm one runs locally from now on.
          kj::Vector<kj::String> gone;
          for (auto& queue : wanted.queues) {
            if (queue.slurm == nullptr && runners.slurmFor(queue.name) != nullptr) {
              gone.add(kj::str(queue.name));
            }
          }
          for (auto& name : gone) runners.setSlurm(name, kj::Own<SlurmRunner>());
        });
  }

  void notifyStatus() {
    auto counts = scheduler.counts();
    auto status = kj::str("STATUS=", counts.running, " running, ", counts.queued, " queued, ",
                          counts.waiting + counts.retrying, " waiting");
    sd_notify(0, status.cStr());
  }

  // WATCHDOG=1 from the loop itself: if the loop stalls, systemd notices.
  // The one periodic wakeup, and only under a WatchdogSec= service.
  kj::Promise<void> watchdog() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return kj::NEVER_DONE;
    return io.provider->getTimer().afterDelay(int64_t(usec / 2) * kj::MICROSECONDS).then([this]() {
      sd_notify(0, "WATCHDOG=1");
      notifyStatus();
      return watchdog();
    });
  }

  kj::Promise<void> reloadOnHangup() {
    return io.unixEventPort.onSignal(SIGHUP).then([this](siginfo_t) {
      // A file that was there and is gone is an error: the defaults would
      // silently undo the operator's config.
      auto fresh = kj::heap<Config>();
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                     *fresh = loadConfig(paths.configPath, paths.configMustExist);
                   })) {
        KJ_LOG(ERROR, "config reload failed; keeping the old config", e->getDescription());
        return reloadOnHangup();
      }
      // Slurm queues are checked first (child processes: the loop goes on).
      auto& wanted = *fresh;
      return applySlurmQueues(wanted)
          .then([this, fresh = kj::mv(fresh)]() mutable { applyReload(*fresh); },
                [](kj::Exception&& e) {
                  KJ_LOG(ERROR, "config reload failed; keeping the old config", e.getDescription());
                })
          .then([this]() { return reloadOnHangup(); });
    });
  }

  void applyReload(Config& fresh) {
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   // Paths and the runner are fixed for the daemon's life.
                   config.queues = kj::mv(fresh.queues);
                   config.adminGroup = fresh.adminGroup;
                   config.submitGroup = fresh.submitGroup;
                   config.maxConnectionsPerUser = fresh.maxConnectionsPerUser;
                   config.logMaxBytes = fresh.logMaxBytes;
                   config.logMinFreeBytes = fresh.logMinFreeBytes;
                   config.limits = fresh.limits;
                   config.retention = fresh.retention;
                   config.eventsMaxStored = fresh.eventsMaxStored;
                   events.setMaxEvents(config.eventsMaxStored);
                   launcher.setLogMaxBytes(config.logMaxBytes);
                   launcher.setLogMinFreeBytes(config.logMinFreeBytes);
                   scheduler.reloadQueues(config);
                   retention.reconfigure(config.retention);
                   if (access(paths.configPath.cStr(), F_OK) == 0) paths.configMustExist = true;
                 })) {
      KJ_LOG(ERROR, "config reload failed; keeping the old config", e->getDescription());
    } else {
      KJ_LOG(INFO, "config reloaded", paths.configPath);
    }
  }
};

Daemon::Daemon(kj::AsyncIoContext& io, Config config, DaemonPaths paths)
    : impl(kj::heap<Impl>(io, kj::mv(config), kj::mv(paths))) {}

Daemon::~Daemon() noexcept(false) {}

kj::Promise<void> Daemon::run() {
  // Slurm queues are checked before recovery: a queue whose cluster cannot
  // be reached is a start-up error that names it.
  return impl->applySlurmQueues(impl->config).then([this]() { return serve(); });
}

kj::Promise<void> Daemon::serve() {
  auto& d = *impl;
  // 9. Startup is recovery: reconcile every unfinished attempt before
  //    anything new is dispatched or accepted.
  d.scheduler.onTaskFinished(
      [&d](uint64_t id, int64_t finishedAt) { d.retention.taskFinished(id, finishedAt); });
  d.scheduler.recover();
  // 10. Serve: with room for many connections, but tasks keep our old limit.
  d.launcher.setTaskNofileLimit(raiseNofileLimit());
  d.listener = openListenSocket(*d.io.lowLevelProvider, d.config.socketPath);
  auto serving = d.rpc.listen(*d.listener);
  kj::StringPtr socket = d.config.socketPath, stateDir = d.config.stateDir,
                runner = d.runner.name();
  // 11. Ready. From here on, corruption a read meets turns the store
  //     read-only; until now (the store's own checks, the event log,
  //     recovery) it refused the start.
  d.store.serving();
  KJ_LOG(INFO, "taskctld ready", socket, stateDir, runner);
  sd_notify(0, "READY=1");
  // 12. Only now dispatch: a recorded start never precedes READY.
  d.scheduler.start();
  d.retention.start();
  d.notifyStatus();

  auto stop = d.io.unixEventPort.onSignal(SIGTERM)
                  .exclusiveJoin(d.io.unixEventPort.onSignal(SIGINT))
                  .then([](siginfo_t info) {
                    // Running executions are left alone: they outlive us and
                    // the next daemon re-adopts them.
                    int signal = info.si_signo;
                    KJ_LOG(INFO, "stopping", signal);
                    sd_notify(0, "STOPPING=1");
                  });
  return stop.exclusiveJoin(serving.then([]() {}))
      .exclusiveJoin(d.reloadOnHangup())
      .exclusiveJoin(d.watchdog())
      .then([&d]() { return d.commit.flushed(); });
}

}  // namespace taskctl
