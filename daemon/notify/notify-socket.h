// The per-attempt sd_notify socket (/run/taskctl/notify/<id>-<attempt>): what
// a task says about itself through NOTIFY_SOCKET, from `taskctl progress`,
// systemd-notify or sd_notify() in any language. A datagram is the attempt's
// because it arrived on the attempt's socket from the task's uid (or root),
// never because of a pid: a sender that exits right after sending still counts.
#pragma once

#include <kj/async-unix.h>
#include <kj/function.h>
#include <kj/io.h>
#include <kj/string.h>
#include <sys/types.h>

namespace taskctl {

// One datagram, parsed: what taskctl acts on. READY=1, MAINPID=, BARRIER=1
// (answered by the socket itself) and anything else are not fields, but the
// datagram still arrived: every datagram accepted from the task is a sign of
// life (docs/cli.md, "Heartbeats").
struct NotifyMessage {
  bool watchdog = false;                    // WATCHDOG=1
  bool watchdogTrigger = false;             // WATCHDOG=trigger: end the attempt, `heartbeat`
  kj::Maybe<uint64_t> extendTimeoutUsec;    // EXTEND_TIMEOUT_USEC=N (decimal µs)
  kj::Maybe<kj::String> status;             // STATUS=text (valid UTF-8 only)
  kj::Maybe<double> progress;               // X_TASKCTL_PROGRESS=0.4 or 40%, within 0..1
  kj::Maybe<kj::String> malformedProgress;  // X_TASKCTL_PROGRESS= that is neither, for the log
};

NotifyMessage parseNotify(kj::ArrayPtr<const char> datagram);
// Pure. Lines are newline-separated KEY=VALUE; the datagram ends at its first
// NUL, as in systemd. A key given twice in one datagram: the last one wins.
// X_TASKCTL_PROGRESS= takes what `taskctl progress` takes
// (parseProgressFraction: "0.4", "40%"); anything else is kept, printable and
// cut to 64 bytes, in malformedProgress (and progress stays null). A STATUS=
// that is not UTF-8, an EXTEND_TIMEOUT_USEC= that is not a decimal and a
// WATCHDOG= other than 1 or trigger are ignored.

// One attempt's socket, owned by whoever runs the attempt, for as long as the
// attempt runs.
class NotifySocket {
 public:
  NotifySocket(kj::UnixEventPort& port, kj::StringPtr path, uid_t uid, gid_t gid,
               kj::Function<void(NotifyMessage&&)> onMessage);
  // Binds a unix datagram socket at `path` (absolute; a stale socket there is
  // unlinked first; a path of 108 bytes or more is refused, naming it), owned by
  // uid:gid with mode 0600 so only that user and root can send to it. Throws
  // if it cannot. The directory must exist and let `uid` search it.
  //
  // From the next loop turn on, every datagram whose SCM_CREDENTIALS uid is
  // `uid` or 0 and that fits in 64 KiB is parsed and handed to `onMessage`
  // (whatever it says, an empty datagram too), in arrival order, on the loop (a few per
  // turn, so a task that floods its socket cannot hold the loop). Others are
  // dropped and counted. Every fd that arrives with a datagram is closed once
  // the datagram is handled: that answers BARRIER=1 (systemd-notify and
  // sd_notify_barrier() wait for it) only after everything sent before it.
  // An exception from `onMessage` is logged and the next datagram handled.
  // `onMessage` must not destroy this NotifySocket (it runs inside its read
  // loop): defer that to a later turn.

  ~NotifySocket() noexcept(false);
  // Stops reading, closes the socket and unlinks `path`. Datagrams still
  // queued are discarded and their senders' barriers released.

  KJ_DISALLOW_COPY(NotifySocket);

  kj::StringPtr path() const { return pathValue; }
  size_t dropped() const { return droppedCount; }
  // Datagrams refused: from another uid, without credentials, or too large.

 private:
  kj::UnixEventPort& port;
  kj::String pathValue;
  uid_t uid;
  kj::Function<void(NotifyMessage&&)> onMessage;
  size_t droppedCount = 0;
  kj::AutoCloseFd fd;
  kj::Own<kj::UnixEventPort::FdObserver> observer;
  kj::Promise<void> receiving;  // declared last: destroyed before the observer and the fd

  kj::Promise<void> receiveLoop();
  bool drain();
  void drop(kj::StringPtr reason);
};

}  // namespace taskctl
