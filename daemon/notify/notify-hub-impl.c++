#include "notify/notify-hub-impl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <kj/debug.h>

namespace taskctl {

SocketNotifyHub::SocketNotifyHub(kj::UnixEventPort& port, kj::StringPtr dir)
    : port(port), dir(kj::str(dir)) {
  for (size_t i = 1; i < dir.size(); i++) {  // parents as mkdir -p makes them
    if (dir[i] == '/') mkdir(kj::heapString(dir.slice(0, i)).cStr(), 0755);
  }
  if (mkdir(dir.cStr(), 0755) < 0 && errno != EEXIST) {
    KJ_FAIL_SYSCALL("mkdir", errno, dir);
  }
  chmod(dir.cStr(), 0755);
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
        onNotice(AttemptNotice{m.watchdog, kj::mv(m.status), m.progress});
      });
  return kj::heap<SocketHandle>(kj::mv(socket));
}

}  // namespace taskctl
