// Fills a taskctld store with many tasks, fast, for bench/run-open-bench.sh
// (DESIGN 11: 1 M stored tasks, queued or finished, open in < 1 s and cost
// < 64 MiB RSS). It writes through the daemon's own Store, so the records and
// indexes are exactly what submits would leave, in commits of 10,000 (no
// events: the daemon keeps a bounded log of those anyway). The queue
// `default` is left paused, so that the daemon starts none of them.
//
//   bench-fill-store --store DIR/store --count 1000000 --state queued|finished
//                    [--env small|login]
//
// Each task carries a command and a client's environment, which the CLI
// sends whole: `small` (the default), 22 variables of 32 bytes (~1 KiB, a
// 1.5 KiB record, in LMDB's leaf pages); `login`, the 25 variables of an ssh
// login shell of a user on Debian 12 with the stock ~/.bashrc, whose
// LS_COLORS (dircolors -b) alone is 1754 bytes (~2.4 KiB, a 2.8 KiB record,
// in overflow pages of its own). A finished task also has its attempt record.
#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/main.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

namespace {

using taskctl::records::TaskState;

int64_t nowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// LS_COLORS as `dircolors -b` sets it on Debian 12 (coreutils 9.1): the
// same length, 1754 bytes, made of its first entries repeated.
kj::String lsColors() {
  kj::StringPtr entries =
      "rs=0:di=01;34:ln=01;36:mh=00:pi=40;33:so=01;35:do=01;35:bd=40;33;01:cd=40;33;01:"
      "or=40;31;01:mi=00:su=37;41:sg=30;43:ca=00:tw=30;42:ow=34;42:st=37;44:ex=01;32:"
      "*.tar=01;31:*.tgz=01;31:*.arc=01;31:*.arj=01;31:*.taz=01;31:*.lha=01;31:";
  kj::Vector<char> out;
  while (out.size() < 1754) out.add(entries[out.size() % entries.size()]);
  return kj::heapString(out.begin(), out.size());
}

int run(kj::StringPtr storeDir, uint64_t count, bool finished, bool loginEnv) {
  taskctl::Store store(storeDir);
  kj::Vector<kj::String> env;
  if (loginEnv) {
    // `env` in an ssh session (OpenSSH, pam_systemd, bash as a login shell).
    for (kj::StringPtr var : {"SHELL=/bin/bash"_kj,
                              "PWD=/home/user/work"_kj,
                              "LOGNAME=user"_kj,
                              "XDG_SESSION_TYPE=tty"_kj,
                              "MOTD_SHOWN=pam"_kj,
                              "HOME=/home/user"_kj,
                              "LANG=en_US.UTF-8"_kj,
                              "SSH_CONNECTION=192.0.2.10 53422 192.0.2.20 22"_kj,
                              "LESSCLOSE=/usr/bin/lesspipe %s %s"_kj,
                              "XDG_SESSION_CLASS=user"_kj,
                              "TERM=xterm-256color"_kj,
                              "LESSOPEN=| /usr/bin/lesspipe %s"_kj,
                              "USER=user"_kj,
                              "SHLVL=1"_kj,
                              "XDG_SESSION_ID=42"_kj,
                              "XDG_RUNTIME_DIR=/run/user/1000"_kj,
                              "SSH_CLIENT=192.0.2.10 53422 22"_kj,
                              "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"_kj,
                              "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"_kj,
                              "MAIL=/var/mail/user"_kj,
                              "SSH_TTY=/dev/pts/0"_kj,
                              "OLDPWD=/home/user"_kj,
                              "EDITOR=vim"_kj,
                              "_=/usr/bin/taskctl"_kj}) {
      env.add(kj::str(var));
    }
    env.add(kj::str("LS_COLORS=", lsColors()));
  } else {
    const char* names[] = {"HOME",
                           "USER",
                           "LOGNAME",
                           "SHELL",
                           "PATH",
                           "LANG",
                           "TERM",
                           "PWD",
                           "SSH_CONNECTION",
                           "SSH_CLIENT",
                           "SSH_TTY",
                           "MAIL",
                           "XDG_SESSION_ID",
                           "XDG_RUNTIME_DIR",
                           "DBUS_SESSION_BUS_ADDRESS",
                           "LESSOPEN",
                           "EDITOR",
                           "PAGER",
                           "HISTSIZE",
                           "LS_COLORS_SHORT",
                           "OLDPWD",
                           "SHLVL"};
    for (auto name : names) env.add(kj::str(name, "=", kj::repeat('x', 32)));
  }
  int64_t t0 = nowNs();
  uint64_t base = store.peekNextId();
  size_t recordBytes = 0;
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
    task.initLimits().setKillGraceUsec(taskctl::spec::DEFAULT_KILL_GRACE_USEC);
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
    if (i == 0) recordBytes = capnp::computeSerializedSizeInWords(message) * 8;
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
  printf(
      "stored %llu %s tasks (ids %llu..%llu; %s environment of %zu variables, a record of "
      "%zu bytes) in %.1f s\n",
      (unsigned long long)count, finished ? "finished" : "queued", (unsigned long long)base,
      (unsigned long long)(base + count - 1), loginEnv ? "a login" : "a small", env.size(),
      recordBytes, secs);
  return 0;
}

}  // namespace

int main(int argc, char* argv[]) {
  kj::StringPtr storeDir;
  uint64_t count = 1000000;
  bool finished = false;
  bool loginEnv = false;
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
    } else if (arg == "--env" && i + 1 < argc) {
      kj::StringPtr s = argv[++i];
      if (s != "small" && s != "login") {
        fprintf(stderr, "--env is small or login\n");
        return 64;
      }
      loginEnv = s == "login";
    } else {
      fprintf(stderr,
              "usage: %s --store DIR --count N --state queued|finished [--env small|login]\n",
              argv[0]);
      return 64;
    }
  }
  if (storeDir == nullptr) {
    fprintf(stderr, "--store DIR is required\n");
    return 64;
  }
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { run(storeDir, count, finished, loginEnv); })) {
    fprintf(stderr, "bench-fill-store: %s\n", e->getDescription().cStr());
    return 1;
  }
  return 0;
}
