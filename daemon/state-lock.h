// The lock that lets one taskctld use a state directory: <state>/lock, held
// with flock for the daemon's life (the kernel drops it when the process dies,
// so a kill -9 never leaves it stale).
#pragma once

#include <kj/io.h>
#include <kj/string.h>

namespace taskctl {

kj::AutoCloseFd lockStateDir(kj::StringPtr stateDir);
// Creates `stateDir` (0700) if needed, checks it (trusted-dir.h) and takes its
// lock; then creates or checks its store, runs and logs directories. Throws,
// naming the path and the reason, if one is not ours alone; naming the lock
// file and the holder's pid, if another daemon holds it.

}  // namespace taskctl
