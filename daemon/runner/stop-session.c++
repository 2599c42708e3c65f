#include "runner/stop-session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <kj/string.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <set>
#include <utility>

namespace taskctl {
namespace {

// A fork bomb still ends once its members are killed; this only bounds a
// bug.
constexpr int MAX_SCANS = 100;

}  // namespace

kj::Maybe<ProcStat> readProcStat(int pid) {
  auto path = kj::str("/proc/", pid, "/stat");
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  kj::AutoCloseFd file(fd);
  char buf[1024];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return nullptr;
  buf[n] = 0;
  // The command name (field 2) may hold spaces and parentheses: count fields
  // after its last ')'.
  char* p = strrchr(buf, ')');
  if (p == nullptr) return nullptr;
  ProcStat stat;
  int ppid;
  int consumed = 0;
  if (sscanf(p + 1, " %c %d %d %d%n", &stat.state, &ppid, &stat.pgid, &stat.sid, &consumed) != 4) {
    return nullptr;
  }
  // At the space before field 7; each step moves to the one before the next.
  p = p + 1 + consumed;
  for (int field = 8; field <= 22 && p != nullptr; field++) {
    p = strchr(p + 1, ' ');
  }
  if (p == nullptr) return nullptr;
  stat.startTime = strtoull(p + 1, nullptr, 10);
  return stat;
}

size_t stopSession(int sid, uint64_t leaderStartTime) {
  if (sid <= 1) return 0;
  KJ_IF_MAYBE (leader, readProcStat(sid)) {
    // Alive (or a zombie) with another start time: the id was free to reuse,
    // so nothing of our session is left.
    if (leader->startTime != leaderStartTime) return 0;
  }
  int self = getpid();
  auto isMember = [&](const ProcStat& stat) {
    return stat.sid == sid && stat.startTime >= leaderStartTime && stat.state != 'Z' &&
           stat.state != 'X';
  };
  std::set<std::pair<int, uint64_t>> signalled;
  for (int scan = 0; scan < MAX_SCANS; scan++) {
    DIR* proc = opendir("/proc");
    if (proc == nullptr) {
      KJ_LOG(ERROR, "cannot list /proc to stop a session", sid, strerror(errno));
      break;
    }
    KJ_DEFER(closedir(proc));
    bool found = false;
    while (struct dirent* entry = readdir(proc)) {
      char* end;
      long pid = strtol(entry->d_name, &end, 10);
      if (*end != 0 || pid <= 0 || pid == self) continue;
      KJ_IF_MAYBE (stat, readProcStat(pid)) {
        if (!isMember(*stat)) continue;
        if (signalled.count({pid, stat->startTime})) continue;
        int pidfd = syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) continue;  // gone meanwhile
        kj::AutoCloseFd pinned(pidfd);
        // The pidfd names whatever had the pid when it was opened: the same
        // process only if it still has the stat we saw. If the signal below
        // reaches it, it was alive, so this read was of it.
        KJ_IF_MAYBE (again, readProcStat(pid)) {
          if (!isMember(*again) || again->startTime != stat->startTime) continue;
        } else {
          continue;
        }
        if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0) {
          signalled.insert({pid, stat->startTime});
          found = true;
        }
      }
    }
    if (!found) return signalled.size();
  }
  KJ_LOG(ERROR, "session still gained members after repeated kills", sid, MAX_SCANS);
  return signalled.size();
}

}  // namespace taskctl
