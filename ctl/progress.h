// `taskctl progress`: what a task says about itself to taskctld, through the sd_notify protocol
// on the attempt's own NOTIFY_SOCKET (DESIGN 6, "Heartbeat / progress"). Nothing here talks to
// taskctld's RPC socket.
#pragma once

#include <kj/string.h>
#include <kj/time.h>

#include "args.h"

namespace taskctl {

// The datagram that reports `fraction` (0..1) and, when given, a status text:
// "X_TASKCTL_PROGRESS=0.4\nSTATUS=half way". The fraction is a plain decimal with at most six
// places and no trailing zeros ("0.4", "1", "0.333333"): the daemon reads no exponents. `text`
// must be one line (the caller checks; a newline would start another field).
kj::String progressDatagram(double fraction, kj::Maybe<kj::StringPtr> text);

// Sends `datagram` to the unix datagram socket `notifySocket` names (an absolute path, or
// "@name" for an abstract one), then makes sure the receiver has handled it before returning, as
// sd_notify_barrier() does: a second datagram "BARRIER=1" carries the write end of a pipe, which
// the receiver closes once it has read everything sent before it; this waits for that hangup up
// to `barrierTimeout`. Without it a task that reports and exits at once could race its own
// report. Throws Failure: EXIT_USAGE for an address that is neither form, EXIT_UNAVAILABLE when a
// send fails or the barrier is not released in time.
void sendNotify(kj::StringPtr notifySocket, kj::StringPtr datagram,
                kj::Duration barrierTimeout = 5 * kj::SECONDS);

// The whole `taskctl progress` command; `notifySocket` is $NOTIFY_SOCKET. Returns 0 or throws
// Failure (EXIT_USAGE when there is no NOTIFY_SOCKET: not inside a task).
int runProgress(const ProgressArgs& args, kj::Maybe<kj::StringPtr> notifySocket);

}  // namespace taskctl
