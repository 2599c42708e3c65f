// The daemon's NotifyHub: one NotifySocket per attempt in <dir>/<id>-<n>.
#pragma once

#include <kj/async-unix.h>

#include "notify/notify-socket.h"
#include "scheduler/notify-hub.h"

namespace taskctl {

class SocketNotifyHub final : public NotifyHub {
 public:
  // `dir` exists, made or checked by the daemon (0755: every task's user must
  // reach its own socket in it).
  SocketNotifyHub(kj::UnixEventPort& port, kj::StringPtr dir);

  kj::String pathFor(uint64_t taskId, uint32_t attempt) override;
  kj::Own<NotifyHandle> open(kj::StringPtr path, uid_t uid, gid_t gid,
                             kj::Function<void(AttemptNotice&&)> onNotice) override;

 private:
  kj::UnixEventPort& port;
  kj::String dir;
};

}  // namespace taskctl
