// The socket taskctld listens on: systemd's (socket activation) or its own,
// created with the permissions that say who may reach the daemon. Who is
// then served is the RPC server's decision, per peer (SO_PEERCRED).
#pragma once

#include <kj/async-io.h>
#include <kj/string.h>

namespace taskctl {

kj::Own<kj::ConnectionReceiver> openListenSocket(kj::LowLevelAsyncIoProvider& io,
                                                 kj::StringPtr path);
// The socket systemd passed (LISTEN_FDS), made non-blocking and close-on-exec;
// otherwise a new one at `path` (its directory created if need be), 0666 for
// a daemon running as root and 0600 otherwise. A leftover socket nobody
// listens on is replaced; one another daemon listens on, or a file that is
// not a socket, is refused with a message that says so.

}  // namespace taskctl
