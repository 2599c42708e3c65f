// Fills a taskctld store with many tasks, fast, for bench/run-open-bench.sh
// (DESIGN 11: 1 M stored tasks, queued or finished, open in < 1 s and cost
// < 64 MiB RSS). It writes through the daemon's own Store, so the records and
// indexes are exactly what submits would leave, in commits of 10,000 (no
// events: the daemon keeps a bounded log of those anyway). The queue
// `default` is left paused, so that the daemon starts none of them.
//
//   bench-fill-store --store DIR/store --count 1000000 --state queued|finished
//
// Each task carries a command and a client's environment like the CLI's (22
// variables, ~1 KiB); a finished one also has its attempt record.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/main.h>

#include "store/store.h"

namespace {

using taskctl::records::TaskState;

int64_t nowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int run(kj::StringPtr storeDir, uint64_t count, bool finished) {
  taskctl::Store store(storeDir);
  kj::Vector<kj::String> env;
  const char* names[] = {"HOME", "USER", "LOGNAME", "SHELL", "PATH", "LANG", "TERM", "PWD",
                         "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "MAIL", "XDG_SESSION_ID",
                         "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "LESSOPEN", "EDITOR",
                         "PAGER", "HISTSIZE", "LS_COLORS_SHORT", "OLDPWD", "SHLVL"};
  for (auto name : names) env.add(kj::str(name, "=", kj::repeat('x', 32)));
  int64_t t0 = nowNs();
  uint64_t base = store.peekNextId();
  for (uint64_t i = 0; i < count; i++) {
    uint64_t id = store.allocateId();
    capnp::MallocMessageBuilder message(256);
    auto task = message.initRoot<taskctl::records::Task>();
    task.setId(id);
    task.setUid(getuid());  // the bench's user: it cancels them
    task.setGid(getgid());
    task.initGroups(1).set(0, getgid());
    auto argv = task.initArgv(3);
    argv.set(0, "sh"_kj.asBytes());
    argv.set(1, "-c"_kj.asBytes());
    argv.set(2, kj::str("./process-batch --input /srv/data/part-", id, ".csv").asBytes());
    auto e = task.initEnv(env.size());
    for (auto j : kj::indices(env)) e.set(j, env[j].asBytes());
    task.setCwd("/home/user/work"_kj.asBytes());
    task.setUmask(022);
    task.setQueue("default");
    task.setPriority(int32_t(i % 5) - 2);
    int64_t created = t0 - int64_t(count - i) * 1000000;  // 1 ms apart, in the past
    task.setCreatedAt(created);
    task.setKillGraceUsec(10000000);
    if (finished) {
      task.setState(TaskState::SUCCEEDED);
      task.setAttempts(1);
      task.setReason(taskctl::records::EndReason::EXIT);
      task.setMessage("exited with status 0");
      task.setExitCode(0);
      task.setFinishedAt(created + 500000);
      capnp::MallocMessageBuilder attemptMessage(128);
      auto attempt = attemptMessage.initRoot<taskctl::records::Attempt>();
      attempt.setTaskId(id);
      attempt.setNumber(1);
      attempt.setState(TaskState::SUCCEEDED);
      attempt.setReason(taskctl::records::EndReason::EXIT);
      attempt.setExitCode(0);
      attempt.setStartedAt(created + 100000);
      attempt.setEndedAt(created + 500000);
      attempt.setUnit(kj::str("taskctl-", id, "-1"));
      store.putAttempt(attempt);
    } else {
      task.setState(TaskState::QUEUED);
    }
    store.putTask(task);
    if (store.stagedCount() >= 40000) store.commit();
  }
  {
    // Paused, as the bench measures a store, not executions: 1 M queued
    // tasks stay queued.
    capnp::MallocMessageBuilder message(64);
    auto settings = message.initRoot<taskctl::records::QueueSettings>();
    settings.setName("default");
    settings.setPaused(true);
    settings.setPausedReason("bench-fill-store");
    store.putQueueSettings(settings);
  }
  store.commit();
  double secs = (nowNs() - t0) / 1e9;
  printf("stored %llu %s tasks (ids %llu..%llu) in %.1f s\n", (unsigned long long)count,
         finished ? "finished" : "queued", (unsigned long long)base,
         (unsigned long long)(base + count - 1), secs);
  return 0;
}

}  // namespace

int main(int argc, char* argv[]) {
  kj::StringPtr storeDir;
  uint64_t count = 1000000;
  bool finished = false;
  for (int i = 1; i < argc; i++) {
    kj::StringPtr arg = argv[i];
    if (arg == "--store" && i + 1 < argc) {
      storeDir = argv[++i];
    } else if (arg == "--count" && i + 1 < argc) {
      count = strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--state" && i + 1 < argc) {
      kj::StringPtr s = argv[++i];
      if (s != "queued" && s != "finished") {
        fprintf(stderr, "--state is queued or finished\n");
        return 64;
      }
      finished = s == "finished";
    } else {
      fprintf(stderr, "usage: %s --store DIR --count N --state queued|finished\n", argv[0]);
      return 64;
    }
  }
  if (storeDir == nullptr) {
    fprintf(stderr, "--store DIR is required\n");
    return 64;
  }
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { run(storeDir, count, finished); })) {
    fprintf(stderr, "bench-fill-store: %s\n", e->getDescription().cStr());
    return 1;
  }
  return 0;
}
