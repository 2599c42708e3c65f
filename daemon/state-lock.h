// The lock that lets one taskctld use a state directory: <state>/lock, held
// with flock for the daemon's life (the kernel drops it when the process dies,
// so a kill -9 never leaves it stale).
#pragma once

#include <kj/io.h>
#include <kj/string.h>

namespace taskctl {

kj::AutoCloseFd lockStateDir(kj::StringPtr stateDir);
// Creates `stateDir` (0700) if needed and takes its lock. Throws, naming the
// lock file and the holder's pid, if another daemon holds it.

}  // namespace taskctl
