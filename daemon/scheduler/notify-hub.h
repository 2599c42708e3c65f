// Where an attempt's own NOTIFY_SOCKET comes from: the daemon opens one per
// attempt (daemon/notify), tests use a fake. Keeps sockets out of the
// scheduler's policy code.
#pragma once

#include <kj/function.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <sys/types.h>

namespace taskctl {

// One datagram from the task, whatever it says: its arrival alone is a
// heartbeat (docs/cli.md, "Heartbeats").
struct AttemptNotice {
  bool watchdog = false;                    // WATCHDOG=1
  bool watchdogTrigger = false;             // WATCHDOG=trigger: end the attempt, `heartbeat`
  kj::Maybe<uint64_t> extendTimeoutUsec;    // EXTEND_TIMEOUT_USEC=
  kj::Maybe<kj::String> status;             // STATUS=
  kj::Maybe<double> progress;               // X_TASKCTL_PROGRESS=, 0..1
  kj::Maybe<kj::String> malformedProgress;  // X_TASKCTL_PROGRESS= it could not read, for the log
};

// Keeps an attempt's socket open; dropping it closes and removes the socket.
class NotifyHandle {
 public:
  virtual ~NotifyHandle() noexcept(false) = default;
};

class NotifyHub {
 public:
  virtual ~NotifyHub() noexcept(false) = default;

  virtual kj::String pathFor(uint64_t taskId, uint32_t attempt) = 0;

  virtual kj::Own<NotifyHandle> open(kj::StringPtr path, uid_t uid, gid_t gid,
                                     kj::Function<void(AttemptNotice&&)> onNotice) = 0;
  // Serves `path` for the task's user until the returned handle is dropped.
  // `onNotice` runs on the loop and must not drop the handle itself.
};

}  // namespace taskctl
