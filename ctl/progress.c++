#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/io.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "exit-status.h"

namespace taskctl {

namespace {

struct NotifyAddress {
  struct sockaddr_un address;
  socklen_t length;
};

NotifyAddress notifyAddress(kj::StringPtr socket) {
  NotifyAddress result;
  memset(&result.address, 0, sizeof(result.address));
  result.address.sun_family = AF_UNIX;
  // The path with its NUL must fit; an abstract name ('@' becomes the leading NUL) need not end
  // in one.
  constexpr size_t ROOM = sizeof(result.address.sun_path);
  bool path = socket.startsWith("/");
  bool abstract = socket.startsWith("@") && socket.size() > 1;
  if (!path && !abstract) {
    throw Failure{EXIT_USAGE, kj::str("NOTIFY_SOCKET must be an absolute path or an abstract "
                                      "socket name starting with @, not '",
                                      socket, "'")};
  }
  if (path ? socket.size() >= ROOM : socket.size() > ROOM) {
    throw Failure{EXIT_USAGE,
                  kj::str("NOTIFY_SOCKET is too long for a unix socket address: ", socket)};
  }
  memcpy(result.address.sun_path, socket.begin(), socket.size());
  if (abstract) result.address.sun_path[0] = '\0';
  result.length = offsetof(struct sockaddr_un, sun_path) + socket.size() + (path ? 1 : 0);
  return result;
}

// One datagram, with `fd` attached (SCM_RIGHTS) when it is not -1. Returns 0 or the errno.
int sendDatagram(int sock, const NotifyAddress& to, kj::StringPtr data, int fd) {
  struct iovec iov;
  iov.iov_base = const_cast<char*>(data.begin());
  iov.iov_len = data.size();
  struct msghdr message;
  memset(&message, 0, sizeof(message));
  message.msg_name = const_cast<struct sockaddr_un*>(&to.address);
  message.msg_namelen = to.length;
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    memset(control, 0, sizeof(control));
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    struct cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &fd, sizeof(int));
  }
  // No credentials of our own: the receiver sets SO_PASSCRED and the kernel attaches ours.
  while (sendmsg(sock, &message, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int64_t monotonicMs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

[[noreturn]] void sendFailed(kj::StringPtr socket, int error) {
  // A full queue for the whole send timeout reads as "Resource temporarily unavailable".
  kj::StringPtr reason =
      error == EAGAIN ? "its queue stayed full"_kj : kj::StringPtr(strerror(error));
  throw Failure{EXIT_UNAVAILABLE,
                kj::str("cannot send progress to NOTIFY_SOCKET ", socket, ": ", reason)};
}

}  // namespace

kj::String progressDatagram(double fraction, kj::Maybe<kj::StringPtr> text) {
  // Never called with a setlocale(): "%f" writes a point.
  char number[32];
  snprintf(number, sizeof(number), "%.6f", fraction);
  size_t length = strlen(number);
  while (length > 0 && number[length - 1] == '0') length--;
  if (length > 0 && number[length - 1] == '.') length--;
  auto value = kj::heapString(number, length);
  KJ_IF_MAYBE (status, text) {
    return kj::str("X_TASKCTL_PROGRESS=", value, "\nSTATUS=", *status);
  }
  return kj::str("X_TASKCTL_PROGRESS=", value);
}

void sendNotify(kj::StringPtr notifySocket, kj::StringPtr datagram, kj::Duration barrierTimeout) {
  auto to = notifyAddress(notifySocket);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) sendFailed(notifySocket, errno);
  kj::AutoCloseFd sock(fd);
  // A receiver that stopped reading fills its queue, and a send then blocks: not for ever.
  int64_t timeoutMs = barrierTimeout / kj::MILLISECONDS;
  struct timeval sendTimeout;
  sendTimeout.tv_sec = timeoutMs / 1000;
  sendTimeout.tv_usec = timeoutMs % 1000 * 1000;
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, sizeof(sendTimeout));

  if (int error = sendDatagram(fd, to, datagram, -1)) sendFailed(notifySocket, error);

  int ends[2];
  if (pipe2(ends, O_CLOEXEC) < 0) sendFailed(notifySocket, errno);
  kj::AutoCloseFd readEnd(ends[0]);
  {
    // Our copy of the write end goes as soon as it is sent: the receiver's copy is then the last,
    // and its close is the hangup we wait for.
    kj::AutoCloseFd writeEnd(ends[1]);
    if (int error = sendDatagram(fd, to, "BARRIER=1", writeEnd)) sendFailed(notifySocket, error);
  }

  int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    struct pollfd waiting = {readEnd, 0, 0};  // POLLHUP is reported whatever is asked for
    int64_t left = kj::max(deadline - monotonicMs(), int64_t(0));
    int ready = poll(&waiting, 1, static_cast<int>(left));
    if (ready > 0) return;  // the hangup (nothing else ever comes through this pipe)
    if (ready < 0 && errno != EINTR) sendFailed(notifySocket, errno);
    if (ready == 0 && left == 0) {
      auto within =
          timeoutMs % 1000 == 0 ? kj::str(timeoutMs / 1000, " s") : kj::str(timeoutMs, " ms");
      throw Failure{EXIT_UNAVAILABLE,
                    kj::str("taskctld did not confirm the progress report within ", within,
                            " (NOTIFY_SOCKET ", notifySocket, ")")};
    }
  }
}

int runProgress(const ProgressArgs& args, kj::Maybe<kj::StringPtr> notifySocket) {
  KJ_IF_MAYBE (socket, notifySocket) {
    if (socket->size() > 0) {
      kj::Maybe<kj::StringPtr> text;
      KJ_IF_MAYBE (t, args.text) {
        text = kj::StringPtr(*t);
      }
      sendNotify(*socket, progressDatagram(args.fraction, text));
      return 0;
    }
  }
  throw Failure{EXIT_USAGE,
                kj::str("taskctl progress works inside a task (NOTIFY_SOCKET is not set)")};
}

}  // namespace taskctl
