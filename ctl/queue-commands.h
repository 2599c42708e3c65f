// The `queue` commands: see and change queues at run time. Like commands.h, each returns
// taskctl's exit status; a refusal (an unknown queue: 65; not root or an admin: 77) throws.
#pragma once

#include "args.h"
#include "session.h"

namespace taskctl {

int runQueueList(Session& session, const QueueListArgs& args, const GlobalOptions& global);
int runQueueSet(Session& session, const QueueSetArgs& args, const GlobalOptions& global);
int runQueuePause(Session& session, const QueuePauseArgs& args, const GlobalOptions& global);
int runDrain(Session& session, const DrainArgs& args, const GlobalOptions& global);

}  // namespace taskctl
