// What taskctl exits with, and the one line it prints when something went wrong (DESIGN 8).
#pragma once

#include <kj/exception.h>
#include <kj/string.h>

#include "rpc.capnp.h"

namespace taskctl {

// taskctl's own exit statuses, from sysexits(3). Task exit codes can collide with these; scripts
// that must tell them apart read `status --json`.
constexpr int EXIT_USAGE = 64;         // a command line the client refuses by itself
constexpr int EXIT_REJECTED = 65;      // the daemon rejected the input (unknown id, bad queue, ...)
constexpr int EXIT_UNAVAILABLE = 69;   // the daemon is unreachable, did not answer, or hung up
constexpr int EXIT_IO = 74;            // taskctl could not write its output
constexpr int EXIT_OVERLOADED = 75;    // the daemon cannot take work now: retry later
constexpr int EXIT_PERMISSION = 77;    // the daemon refused the caller's identity
constexpr int EXIT_INTERRUPTED = 130;  // Ctrl-C while waiting (as a shell reports SIGINT)

// The end of a taskctl run that did not go as asked: an exit status and one line for stderr
// (without the "taskctl: " prefix). Thrown by the client code and caught in main().
struct Failure {
  int status;
  kj::String message;
};

// Maps an exception from an RPC call (or from capnp itself) to taskctl's exit status:
//   OVERLOADED                                  75
//   FAILED, "permission denied..."              77
//   FAILED, anything else                       65
//   DISCONNECTED                                69  "taskctld closed the connection"
//   DISCONNECTED, "request too large..." (remote) 65  (the daemon's Abort of an oversized frame)
//   UNIMPLEMENTED                               69  (a daemon older than this client)
// The "remote exception: " prefix capnp adds is dropped, and only the first line is kept.
Failure failureFrom(const kj::Exception& exception);

// The daemon could not be reached at all (no socket, refused, ...).
Failure unreachable(kj::StringPtr socketPath, kj::StringPtr reason);

// The daemon did not answer a call that must be answered promptly.
Failure notAnswered(kj::StringPtr socketPath);

// What `wait` and `submit --wait` exit with for a finished task: 0 if it succeeded, else the
// daemon's exitStatus (the task's code, 128+N, 124, 130, 125-127). A task that did not succeed
// never yields 0, even if the daemon left exitStatus unset: that becomes 125.
int exitStatusOf(rpc::TaskView::Reader task);

}  // namespace taskctl
