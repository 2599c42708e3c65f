#include "state-lock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kj/debug.h>

namespace taskctl {

kj::AutoCloseFd lockStateDir(kj::StringPtr stateDir) {
  // Parents as `mkdir -p` would make them; the state dir itself is ours alone.
  for (size_t i = 1; i < stateDir.size(); i++) {
    if (stateDir[i] == '/') mkdir(kj::heapString(stateDir.slice(0, i)).cStr(), 0755);
  }
  if (mkdir(stateDir.cStr(), 0700) < 0 && errno != EEXIST) {
    kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("cannot create the state directory ", stateDir, ": ", strerror(errno))));
  }
  auto path = kj::str(stateDir, "/lock");
  // O_CLOEXEC: a shim that inherited it would keep the lock after we die.
  int fd = open(path.cStr(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    kj::throwFatalException(
        kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("cannot open the lock ", path, ": ", strerror(errno))));
  }
  kj::AutoCloseFd lock(fd);
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    char holder[32] = {};
    ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
    while (n > 0 && (holder[n - 1] == '\n')) holder[--n] = 0;
    kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str("another taskctld (pid ", n > 0 ? holder : "unknown",
                        ") holds the lock ", path, " on this state directory; exiting")));
  }
  auto pid = kj::str(getpid(), "\n");
  KJ_SYSCALL(ftruncate(fd, 0));
  KJ_SYSCALL(pwrite(fd, pid.begin(), pid.size(), 0));
  return lock;
}

}  // namespace taskctl
