#include "rpc/listen-socket.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/errors.h"

namespace taskctl {
namespace {

// Why something may be listening on `addr`, or null if nothing is: a
// connect() is refused (ECONNREFUSED) or finds no socket (ENOENT). Anything
// else, even an error we cannot explain, counts as in use: replacing a live
// daemon's socket cuts it off from its clients.
kj::Maybe<kj::String> listenerOn(const struct sockaddr_un& addr) {
  int fd;
  KJ_SYSCALL(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  kj::AutoCloseFd owned(fd);
  // Non-blocking: a listener whose backlog is full answers EAGAIN, not a hang.
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  int error = errno;
  if (rc == 0) return kj::str("a connect() to it succeeded");
  if (error == ECONNREFUSED || error == ENOENT) return nullptr;
  return kj::str("a connect() to it failed with ", strerror(error));
}

// The listening socket: systemd's (socket activation) or our own. Root's is
// 0666 so every local user reaches the daemon, which authorizes each caller
// itself; a daemon not running as root serves only its own uid (every task
// would run as itself), so its socket is 0600, and the RPC server checks
// each peer anyway.
kj::AutoCloseFd openFd(kj::StringPtr path) {
  if (sd_listen_fds(1) >= 1) {
    // systemd's socket is blocking and inherited: an accept() on it would
    // stall the loop, and a shim must not inherit it.
    int fd = SD_LISTEN_FDS_START;
    int flags;
    KJ_SYSCALL(flags = fcntl(fd, F_GETFL), "the socket systemd passed");
    KJ_SYSCALL(fcntl(fd, F_SETFL, flags | O_NONBLOCK), "the socket systemd passed");
    KJ_SYSCALL(fcntl(fd, F_SETFD, FD_CLOEXEC), "the socket systemd passed");
    return kj::AutoCloseFd(fd);
  }

  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    refuse(kj::str("socket path ", path, " is too long (", path.size(), " bytes; the limit is ",
                   sizeof(addr.sun_path) - 1, ")"));
  }
  memcpy(addr.sun_path, path.begin(), path.size());
  KJ_IF_MAYBE (slash, path.findLast('/')) {
    if (*slash > 0) {
      auto parent = kj::heapString(path.slice(0, *slash));
      KJ_SYSCALL_HANDLE_ERRORS(mkdir(parent.cStr(), 0755)) {
        case EEXIST:
          break;
        default:
          KJ_FAIL_SYSCALL("mkdir", error, parent);
      }
    }
  }
  struct stat st;
  if (lstat(path.cStr(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      refuse(kj::str(path, " exists and is not a socket; not touching it"));
    // The state lock only proves no daemon of *this* state directory is
    // alive: one of another state directory may be listening here, and its
    // clients would silently reach us instead. Only a socket nobody listens
    // on is an earlier daemon's leftover.
    KJ_IF_MAYBE (problem, listenerOn(addr)) {
      refuse(kj::str("socket ", path, " is in use (", *problem,
                     "): another taskctld listens on it; not taking it over (stop that daemon, "
                     "or give this one another --socket)"));
    }
    unlink(path.cStr());
  }
  int raw;
  KJ_SYSCALL(raw = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  kj::AutoCloseFd fd(raw);
  KJ_SYSCALL(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), "cannot bind", path);
  chmod(path.cStr(), geteuid() == 0 ? 0666 : 0600);
  KJ_SYSCALL(listen(fd, SOMAXCONN), "cannot listen", path);
  return fd;
}

}  // namespace

kj::Own<kj::ConnectionReceiver> openListenSocket(kj::LowLevelAsyncIoProvider& io,
                                                 kj::StringPtr path) {
  return io.wrapListenSocketFd(openFd(path).release(),
                               kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP |
                                   kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                   kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK);
}

}  // namespace taskctl
