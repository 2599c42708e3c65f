#include "state-lock.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "trusted-dir.h"

namespace taskctl {

kj::AutoCloseFd lockStateDir(kj::StringPtr stateDir) {
  // The state dir is ours alone (0700), and so is everything root writes in it.
  auto dir = openTrustedDir("state directory", stateDir, 0700);
  auto path = kj::str(stateDir, "/lock");
  // O_NOFOLLOW and openat on the checked directory: the lock is truncated
  // below, and must be the file in this directory, never one a link names.
  // O_CLOEXEC: a shim that inherited it would keep the lock after we die.
  int fd = -1;
  KJ_SYSCALL_HANDLE_ERRORS(
      fd = openat(dir, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600)) {
    default:
      refuse(kj::str("cannot open the lock ", path, ": ", strerror(error)));
  }
  kj::AutoCloseFd lock(fd);
  struct stat info;
  KJ_SYSCALL(fstat(fd, &info), path);
  if (!S_ISREG(info.st_mode) || info.st_uid != geteuid()) {
    refuse(kj::str("the lock ", path, " is not a regular file of ours; not touching it"));
  }
  KJ_SYSCALL_HANDLE_ERRORS(flock(fd, LOCK_EX | LOCK_NB)) {
    case EWOULDBLOCK: {
      char holder[32] = {};
      ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
      while (n > 0 && (holder[n - 1] == '\n')) holder[--n] = 0;
      refuse(kj::str("another taskctld (pid ", n > 0 ? holder : "unknown", ") holds the lock ",
                     path, " on this state directory; exiting"));
    }
    default:
      refuse(kj::str("cannot lock ", path, ": ", strerror(error)));
  }
  auto pid = kj::str(getpid(), "\n");
  KJ_SYSCALL(ftruncate(fd, 0));
  KJ_SYSCALL(pwrite(fd, pid.begin(), pid.size(), 0));
  // What root writes under the state dir: checked (and made, 0700) as the
  // state dir is, so none of them can be a link planted before us.
  for (auto sub : {"store", "runs", "logs"}) {
    openTrustedDir("state directory", kj::str(stateDir, "/", sub), 0700);
  }
  return lock;
}

}  // namespace taskctl
