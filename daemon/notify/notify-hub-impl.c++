#include "notify/notify-hub-impl.h"

#include <kj/debug.h>

namespace taskctl {

SocketNotifyHub::SocketNotifyHub(kj::UnixEventPort& port, kj::StringPtr dir)
    : port(port), dir(kj::str(dir)) {
  // No mkdir and no chmod here: the daemon has made or checked the directory
  // as its own (daemon.c++, openRunDirs). A chmod by path would follow a
  // symlink planted in its place and loosen whatever it names.
}

kj::String SocketNotifyHub::pathFor(uint64_t taskId, uint32_t attempt) {
  return kj::str(dir, "/", taskId, "-", attempt);
}

namespace {
struct SocketHandle final : public NotifyHandle {
  kj::Own<NotifySocket> socket;
  explicit SocketHandle(kj::Own<NotifySocket> socket) : socket(kj::mv(socket)) {}
};
}  // namespace

kj::Own<NotifyHandle> SocketNotifyHub::open(kj::StringPtr path, uid_t uid, gid_t gid,
                                            kj::Function<void(AttemptNotice&&)> onNotice) {
  auto socket = kj::heap<NotifySocket>(
      port, path, uid, gid, [onNotice = kj::mv(onNotice)](NotifyMessage&& m) mutable {
        onNotice(AttemptNotice{m.watchdog, m.watchdogTrigger, m.extendTimeoutUsec, kj::mv(m.status),
                               m.progress, kj::mv(m.malformedProgress)});
      });
  return kj::heap<SocketHandle>(kj::mv(socket));
}

}  // namespace taskctl
