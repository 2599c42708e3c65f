#include "notify/notify-socket.h"

#include <errno.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/units.h"

namespace taskctl {

namespace {

// A notify message is a line or two. 64 KiB leaves room for any status text a
// task may mean; a larger datagram is refused whole rather than cut.
constexpr size_t BUFFER_SIZE = 64 * 1024;

// SCM_MAX_FD: the most fds one datagram can carry. Room for all of them, so
// the kernel never has to discard some (and each one is ours to close).
constexpr size_t MAX_FDS = 253;

// Datagrams read in one turn before the rest of the loop gets a chance. The
// socket holds only max_dgram_qlen (10 by default) datagrams, but a sender
// blocked on it refills it as fast as we read: without a cap, a task that
// sends in a tight loop would hold the daemon's one thread.
constexpr size_t BATCH = 8;

bool startsWith(kj::ArrayPtr<const char> line, kj::StringPtr prefix) {
  return line.size() >= prefix.size() && memcmp(line.begin(), prefix.begin(), prefix.size()) == 0;
}

bool equals(kj::ArrayPtr<const char> text, kj::StringPtr expected) {
  return text.size() == expected.size() && memcmp(text.begin(), expected.begin(), text.size()) == 0;
}

// Status text ends up in the store, in JSON and on terminals: only well-formed
// UTF-8 is taken (as systemd does), no overlong forms, surrogates or values
// past U+10FFFF.
bool isUtf8(kj::ArrayPtr<const char> text) {
  auto p = reinterpret_cast<const unsigned char*>(text.begin());
  auto end = reinterpret_cast<const unsigned char*>(text.end());
  while (p < end) {
    unsigned lead = *p;
    if (lead < 0x80) {
      p++;
      continue;
    }
    size_t length;
    uint32_t point;
    uint32_t smallest;
    if ((lead & 0xe0) == 0xc0) {
      length = 2, point = lead & 0x1f, smallest = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, point = lead & 0x0f, smallest = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, point = lead & 0x07, smallest = 0x10000;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) < length) return false;
    for (size_t i = 1; i < length; i++) {
      if ((p[i] & 0xc0) != 0x80) return false;
      point = (point << 6) | (p[i] & 0x3f);
    }
    if (point < smallest || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return false;
    p += length;
  }
  return true;
}

// EXTEND_TIMEOUT_USEC's value: decimal digits only, as systemd's safe_atou64
// takes them less its leading blanks and signs; null past UINT64_MAX.
kj::Maybe<uint64_t> parseUsec(kj::ArrayPtr<const char> text) {
  if (text.size() == 0) return nullptr;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return nullptr;
    uint64_t digit = c - '0';
    if (value > (UINT64_MAX - digit) / 10) return nullptr;
    value = value * 10 + digit;
  }
  return value;
}

// A value the task sent, fit for one log line: printable ASCII, at most 64
// bytes (the rest is the task's, and may be anything).
kj::String forTheLog(kj::ArrayPtr<const char> text) {
  constexpr size_t MAX = 64;
  auto cut = text.slice(0, kj::min(text.size(), MAX));
  auto copy = kj::heapString(cut);
  for (char& c : copy) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return text.size() > MAX ? kj::str(copy, "...") : kj::mv(copy);
}

kj::AutoCloseFd bindSocket(kj::StringPtr path, uid_t uid, gid_t gid) {
  sockaddr_un address;
  memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  // sun_path holds 108 bytes with the terminating NUL; the kernel would bind a
  // longer path cut short, under a name nobody asked for.
  KJ_REQUIRE(path.size() < sizeof(address.sun_path),
             "notify socket path is too long for a unix socket (at most 107 bytes)", path,
             path.size());
  KJ_REQUIRE(path.startsWith("/"), "notify socket path must be absolute", path);
  memcpy(address.sun_path, path.begin(), path.size());

  int raw;
  KJ_SYSCALL(raw = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  kj::AutoCloseFd fd(raw);
  // Before bind, so that no datagram can ever arrive without its sender's
  // credentials.
  int on = 1;
  KJ_SYSCALL(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)));
  // Linux gives the socket file the mode of the unbound socket: set now, no
  // other user can connect even between bind and chown (a datagram socket
  // connected in that window could send later without a permission check).
  KJ_SYSCALL(fchmod(fd, 0600));

  struct stat info;
  KJ_SYSCALL_HANDLE_ERRORS(lstat(path.cStr(), &info)) {
    case ENOENT:
      break;
    default:
      KJ_FAIL_SYSCALL("lstat(notify socket)", error, path);
  }
  else {
    // A socket left behind by a daemon that died: the attempt gets a fresh
    // one. Anything else at that path is not ours to delete.
    KJ_REQUIRE(S_ISSOCK(info.st_mode), "a file that is not a socket is in the way", path);
    KJ_SYSCALL(unlink(path.cStr()), path);
  }

  KJ_SYSCALL(bind(fd, reinterpret_cast<sockaddr*>(&address),
                  offsetof(sockaddr_un, sun_path) + path.size() + 1),
             path);
  KJ_ON_SCOPE_FAILURE(unlink(path.cStr()));
  KJ_SYSCALL(lchown(path.cStr(), uid, gid), path, uid, gid);
  // No chmod by path, which would follow a symlink put in the socket's place:
  // Linux gives the file the mode fchmod set on the socket. Checked, not
  // assumed (root owned the file until the chown, so nobody got in meanwhile).
  struct stat bound;
  KJ_SYSCALL(lstat(path.cStr(), &bound), path);
  KJ_REQUIRE(S_ISSOCK(bound.st_mode) && (bound.st_mode & 077) == 0,
             "the notify socket did not get mode 0600", path, bound.st_mode);
  return fd;
}

}  // namespace

NotifyMessage parseNotify(kj::ArrayPtr<const char> datagram) {
  // As systemd reads it: the message ends at its first NUL (some senders
  // count the terminator in the length).
  if (datagram.size() > 0) {
    if (auto nul = static_cast<const char*>(memchr(datagram.begin(), '\0', datagram.size()))) {
      datagram = datagram.slice(0, nul - datagram.begin());
    }
  }

  NotifyMessage message;
  size_t begin = 0;
  while (begin < datagram.size()) {
    size_t end = begin;
    while (end < datagram.size() && datagram[end] != '\n') end++;
    auto line = datagram.slice(begin, end);
    begin = end + 1;

    if (startsWith(line, "WATCHDOG=")) {
      auto value = line.slice(9, line.size());
      if (equals(value, "1")) {
        message.watchdog = true;
      } else if (equals(value, "trigger")) {
        message.watchdogTrigger = true;
      }
    } else if (startsWith(line, "EXTEND_TIMEOUT_USEC=")) {
      message.extendTimeoutUsec = parseUsec(line.slice(20, line.size()));
    } else if (startsWith(line, "STATUS=")) {
      auto text = line.slice(7, line.size());
      if (isUtf8(text)) message.status = kj::heapString(text);
    } else if (startsWith(line, "X_TASKCTL_PROGRESS=")) {
      auto text = line.slice(19, line.size());
      // The client's own parser (common/units): what `taskctl progress`
      // accepts is exactly what the socket accepts.
      message.progress = parseProgressFraction(kj::heapString(text));
      message.malformedProgress = nullptr;
      if (message.progress == nullptr) message.malformedProgress = forTheLog(text);
    }
  }
  return message;
}

NotifySocket::NotifySocket(kj::UnixEventPort& port, kj::StringPtr path, uid_t uid, gid_t gid,
                           kj::Function<void(NotifyMessage&&)> onMessage)
    : port(port),
      pathValue(kj::heapString(path)),
      uid(uid),
      onMessage(kj::mv(onMessage)),
      fd(bindSocket(pathValue, uid, gid)),
      observer(kj::heap<kj::UnixEventPort::FdObserver>(
          port, fd, kj::UnixEventPort::FdObserver::OBSERVE_READ)),
      // Adding the fd to epoll reports it if a datagram is already queued, so
      // nothing sent since bind is missed.
      receiving(observer->whenBecomesReadable()
                    .then([this]() { return receiveLoop(); })
                    .eagerlyEvaluate([this](kj::Exception&& e) {
                      // Only an unexpected recvmsg error gets here; senders then
                      // see no answer to a barrier, and the heartbeat ends the task.
                      KJ_LOG(ERROR, "notify socket stopped reading", pathValue, e);
                    })) {}

NotifySocket::~NotifySocket() noexcept(false) {
  // Unlinked first, closed with the members: nothing can send to the path in
  // between. Still-queued datagrams go with the socket, releasing their fds.
  KJ_SYSCALL_HANDLE_ERRORS(unlink(pathValue.cStr())) {
    case ENOENT:
      break;
    default:
      KJ_LOG(ERROR, "can't remove notify socket", pathValue, strerror(error));
  }
}

kj::Promise<void> NotifySocket::receiveLoop() {
  if (drain()) {
    // The observer is edge-triggered: armed in the same turn that saw EAGAIN,
    // so a datagram arriving after the last read is one more edge.
    return observer->whenBecomesReadable().then([this]() { return receiveLoop(); });
  }
  // A full batch: read on after the loop has polled I/O (evalLater would run
  // before that). No new edge may come if the sender has stopped, but epoll
  // reports an fd that is readable already when it is added, edge-triggered
  // or not, so observing it anew resumes with what is left.
  observer = nullptr;
  observer = kj::heap<kj::UnixEventPort::FdObserver>(port, fd,
                                                     kj::UnixEventPort::FdObserver::OBSERVE_READ);
  return observer->whenBecomesReadable().then([this]() { return receiveLoop(); });
}

bool NotifySocket::drain() {
  // On the stack, not in the object: one buffer for the loop's one thread,
  // instead of 64 KiB per running attempt.
  char buffer[BUFFER_SIZE];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * MAX_FDS)];

  for (size_t i = 0; i < BATCH; i++) {
    iovec iov = {buffer, sizeof(buffer)};
    msghdr header;
    memset(&header, 0, sizeof(header));
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control;
    header.msg_controllen = sizeof(control);

    ssize_t n;
    KJ_NONBLOCKING_SYSCALL(n = recvmsg(fd, &header, MSG_CMSG_CLOEXEC), pathValue);
    if (n < 0) return true;  // EAGAIN: drained

    // Take every fd first, whatever becomes of the datagram: they close at the
    // end of this iteration, after the datagram was handled. That is the
    // answer to BARRIER=1 (its sender waits for the hangup of the pipe it
    // sent), and since datagrams are handled in order, it comes only after
    // everything sent before it.
    kj::Vector<kj::AutoCloseFd> fds;
    // Not a kj::Maybe<ucred>: GCC 12 then warns of an uninitialized uid.
    bool credentialed = false;
    ucred sender = {};
    for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t j = 0; j < count; j++) {
          int received;
          memcpy(&received, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
          fds.add(received);
        }
      } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        memcpy(&sender, CMSG_DATA(c), sizeof(sender));
        credentialed = true;
      }
    }

    if (header.msg_flags & MSG_TRUNC) {
      drop("larger than 64 KiB");
      continue;
    }
    // The uid, never the pid: the sender may be gone by now (systemd-notify
    // even sends its parent's pid), but the kernel stamped its uid at send time.
    if (!credentialed) {
      drop("without credentials");
      continue;
    }
    if (sender.uid != uid && sender.uid != 0) {
      drop(kj::str("from uid ", sender.uid));
      continue;
    }

    // Every datagram from the task goes on, whatever it says: its arrival
    // alone is a heartbeat.
    auto message = parseNotify(kj::arrayPtr(buffer, n));
    // One bad message must not cost the task its notify socket.
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { onMessage(kj::mv(message)); })) {
      KJ_LOG(ERROR, "handling a notify message failed", pathValue, *e);
    }
  }
  return false;
}

void NotifySocket::drop(kj::StringPtr reason) {
  // Logged once per socket: a task that floods it must not flood the journal.
  if (droppedCount++ == 0) {
    KJ_LOG(WARNING, "notify socket dropped a datagram; further drops are only counted", pathValue,
           reason);
  }
}

}  // namespace taskctl
